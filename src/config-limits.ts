import { Type } from '@sinclair/typebox';

/**
 * The settings that bound what one request may cost (bodies, models, training steps, dry
 * runs, predict passes, uploads, listings): part of ConfigSchema (config.ts), kept here
 * because they are many and change together with docs/security.md's table of caps.
 */
export const LIMIT_SETTINGS = {
  BODY_LIMIT_BYTES: Type.Integer({
    minimum: 1024,
    default: 1024 * 1024,
    description:
      'Largest accepted request body (jobs, dry runs); inline training data counts against ' +
      'it; over it is a 413. Parsing and checking a JSON body holds the event loop, so ' +
      'larger data is uploaded as a dataset, which streams.',
  }),
  MAX_MODEL_PARAMS: Type.Integer({
    minimum: 1,
    default: 50_000_000,
    description: 'Models with more trainable parameters than this are refused at submit (422).',
  }),
  MAX_MODEL_LAYERS: Type.Integer({
    minimum: 1,
    default: 500,
    description: 'Layers of one model; more is a 422 naming the number and the cap.',
  }),
  MAX_EPOCHS: Type.Integer({
    minimum: 1,
    default: 10_000,
    description: 'Epochs of one job; more is a 422 naming the number and the cap.',
  }),
  MAX_BATCH_SIZE: Type.Integer({
    minimum: 1,
    default: 65_536,
    description: 'Samples per training batch; more is a 422 naming the number and the cap.',
  }),
  MAX_BATCH_MEMORY_BYTES: Type.Integer({
    minimum: 1,
    default: 2 * 1024 ** 3,
    description: 'Estimated memory of one training batch; over it is a 422.',
  }),
  MAX_TRAINING_SAMPLES: Type.Integer({
    minimum: 1,
    default: 100_000_000,
    description:
      'Cap on epochs × training rows of one job: the samples it would push through the ' +
      'model (422 at /fit/epochs giving the product).',
  }),
  MAX_BATCH_FLOPS: Type.Number({
    minimum: 1,
    default: 50e9,
    description:
      'Work of one training step (forward + backward on a whole batch), in FLOPs; over it ' +
      'is a 422 `over_limit`. Nothing stops a step half-way, so this bounds how long ' +
      'cancel, time limits and shutdown can take.',
  }),
  MAX_SEQUENTIAL_STEPS: Type.Integer({
    minimum: 1,
    default: 1_000,
    description:
      'Recurrent time steps one training step runs one after another (RNN/LSTM/GRU over ' +
      'long sequences); over it is a 422 `over_limit`.',
  }),
  DRY_RUN_THREADS: Type.Integer({
    minimum: 1,
    maximum: 16,
    default: 1,
    description:
      'Threads serving dry runs (validate, and every submission), which build the model in ' +
      "a thread of their own, never on the API's event loop.",
  }),
  DRY_RUN_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    default: 10_000,
    description: 'A dry run taking longer than this is a 422 `dry_run_timeout`.',
  }),
  DRY_RUN_MEMORY_MB: Type.Integer({
    minimum: 64,
    default: 512,
    description: 'Heap of a dry-run thread; a dry run needing more is a 422 `dry_run_memory`.',
  }),
  MAX_SWEEP_TRIALS: Type.Integer({
    minimum: 1,
    default: 100,
    description:
      "A sweep's `maxTrials` at most; a sweep submission dry-runs each of its trials (those " +
      'differing only in float parameters once), one at a time.',
  }),
  SWEEP_CHECK_BUDGET_MS: Type.Integer({
    minimum: 1,
    default: 60_000,
    description:
      'Wall time a sweep submission may spend checking its trials (their dry runs); over it ' +
      'is a 422 `sweep_check_budget`, nothing stored. One submission per tenant and API process ' +
      'checks at a time; another meanwhile is a 429 `sweep_busy`.',
  }),
  DRY_RUN_QUEUE: Type.Integer({
    minimum: 0,
    default: 32,
    description: 'Dry runs waiting for a thread; more is a 503 `dry_run_busy` with Retry-After.',
  }),
  IMPORT_THREADS: Type.Integer({
    minimum: 1,
    maximum: 16,
    default: 1,
    description:
      'Threads serving Keras file imports and `keras-h5` exports, which parse the file, build ' +
      "the model and write HDF5 in a thread of their own, never on the API's event loop or in its backend.",
  }),
  IMPORT_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    default: 30_000,
    description:
      'An import taking longer than this in its thread is a 422 `import_timeout` naming `/file` ' +
      '(a `keras-h5` export, a 422 `export_timeout`).',
  }),
  IMPORT_MEMORY_MB: Type.Integer({
    minimum: 64,
    default: 512,
    description:
      'Heap of an import thread; an import needing more is a 422 `import_memory` naming `/file` ' +
      '(a `keras-h5` export, a 422 `export_memory`).',
  }),
  IMPORT_QUEUE: Type.Integer({
    minimum: 0,
    default: 8,
    description:
      'Imports and `keras-h5` exports waiting for a thread; more is a 503 `import_busy` ' +
      '(`export_busy`) with Retry-After.',
  }),
  PREDICT_BODY_LIMIT_BYTES: Type.Integer({
    minimum: 1024,
    default: 4 * 1024 * 1024,
    description:
      'Largest predict request body (about 1,300 raw MNIST digits); over it is a 413 naming ' +
      'this setting. Parsed on the event loop, like BODY_LIMIT_BYTES.',
  }),
  PREDICT_MAX_ANSWER_BYTES: Type.Integer({
    minimum: 1024,
    default: 4 * 1024 * 1024,
    description:
      "Predict is sized before it runs: instances × the model's output values per instance " +
      '× 24 bytes (the most a float takes as JSON) over this is a 413 `answer_too_large`; ' +
      'the answer can never be larger.',
  }),
  PREDICT_MAX_PASS_BYTES: Type.Integer({
    minimum: 1024,
    maximum: 1024 ** 3,
    default: 256 * 1024 * 1024,
    description:
      'Bytes one forward pass may hold (instances × the values every layer outputs per ' +
      'instance × 4): a request over it is a 413 `pass_too_large`, and concurrent requests ' +
      "are batched within it. Keeps every pass far inside the compute backend's memory, " +
      "which all tenants share (the wasm backend's heap is 32-bit: at most 2 GiB, hence " +
      'the 1 GiB maximum).',
  }),
  PREDICT_MAX_PASS_FLOPS: Type.Number({
    minimum: 1e6,
    default: 1e9,
    description:
      "FLOPs of one forward pass. Passes run on the API's event loop, so this bounds how " +
      'long one can hold it: a request bigger than one pass is split into passes with a ' +
      'turn of the loop between them; a model one instance of which exceeds it is a 422.',
  }),
  MAX_JSON_DEPTH: Type.Integer({
    minimum: 8,
    maximum: 1000,
    default: 64,
    description:
      'Deepest nesting of arrays and objects in a JSON body or JSON dataset upload; deeper ' + 'is a 400 `too_deep`.',
  }),
  DATASET_UPLOAD_LIMIT_BYTES: Type.Integer({
    minimum: 1024,
    default: 512 * 1024 * 1024,
    description: 'Largest accepted dataset upload (each file of a multipart upload); over it is a 413.',
  }),
  DATASET_MEMORY_LIMIT_BYTES: Type.Integer({
    minimum: 0,
    default: 256 * 1024 * 1024,
    description: 'Uploaded datasets whose training columns are bigger than this train from disk in ' + 'batches.',
  }),
  DATASET_MAX_COLUMNS: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 4096,
    description:
      'Columns of a CSV or of JSON records. Like every DATASET_MAX_* cap, checked while the ' +
      'upload streams in (over it is a 400 `invalid_dataset` naming the cap, the row and ' +
      'the column), so ingest memory and what a dataset keeps in Redis stay bounded ' +
      'whatever the upload looks like.',
  }),
  DATASET_MAX_CELL_CHARS: Type.Integer({
    minimum: 16,
    maximum: 1024 * 1024,
    default: 1024,
    description: 'Characters of one CSV cell, JSON text value, key, number or column name; over it is ' + 'a 400.',
  }),
  DATASET_MAX_TEXT_CHARS: Type.Integer({
    minimum: 16,
    maximum: 16 * 1024 * 1024,
    default: 100_000,
    description:
      'Characters of one cell of a column uploaded as raw text (the upload option `text`); over it is a 400. ' +
      'Text columns are written to disk as they stream in; only the longest row is held.',
  }),
  DATASET_MAX_CLASSES: Type.Integer({
    minimum: 2,
    default: 10_000,
    description: 'Distinct text values (classes) of one column; more is a 400.',
  }),
  DATASET_MAX_SAMPLE_VALUES: Type.Integer({
    minimum: 1,
    default: 1024 * 1024,
    description: 'Numbers in one sample (a JSON `x`/`y` entry, an IDX image); more is a 400.',
  }),
  DATASET_MAX_ARCHIVE_FILES: Type.Integer({
    minimum: 1,
    default: 200_000,
    description:
      'Files in an image-folder archive (zip, tar, tar.gz), skipped ones (dot-files, `__MACOSX/`) included; ' +
      'more is a 400 naming the entry that crossed it.',
  }),
  DATASET_MAX_IMAGE_BYTES: Type.Integer({
    minimum: 1024,
    default: 32 * 1024 * 1024,
    description:
      'Bytes one entry of an image-folder archive inflates to, counted as it inflates (declared sizes can lie); ' +
      'more is a 400 naming the entry.',
  }),
  DATASET_MAX_ARCHIVE_BYTES: Type.Integer({
    minimum: 1024,
    default: 4 * 1024 * 1024 * 1024,
    description:
      'Bytes all entries of an image-folder archive inflate to together (a zip bomb stops here); more is a 400 ' +
      'naming the entry that crossed it.',
  }),
  DATASET_MAX_IMAGE_PIXELS: Type.Integer({
    minimum: 1024,
    default: 64 * 1024 * 1024,
    description:
      "Pixels (width x height, as the image's header declares them) of one image before it is resized: in an " +
      'image-folder upload (a 400 naming the entry) and in a predict request (a 400 naming the instance).',
  }),
  DATASET_MAX_META_BYTES: Type.Integer({
    minimum: 4096,
    default: 1024 * 1024,
    description:
      "Bytes of a dataset's metadata (column names, class names and counts, statistics), " +
      'which Redis holds; over it is a 400.',
  }),
  LIST_MAX_BYTES: Type.Integer({
    minimum: 4096,
    default: 1024 * 1024,
    description:
      'Stored metadata one page of `GET /v1/datasets` or `GET /v1/models` reads: a page ' +
      'stops before the item that would take it over this (it always holds one) and its ' +
      '`nextCursor` goes on from there, so a page of wide datasets or deep models is read, ' +
      'parsed and answered in bounded time and size.',
  }),
};
