import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BoundedThreads, type ThreadAnswers } from './bounded-threads.ts';
import type { ExportInput, ImportInput, ImportResult, ModelFileInput } from './model-file-thread.ts';

export interface ModelFileThreadOptions {
  threads: number;
  timeoutMs: number;
  memoryMb: number;
  /** Imports and exports that may wait for a thread; more are a 503. */
  maxWaiting: number;
}

// The thread runs the same kind of file as this one: .ts under tsx, .js once compiled.
const here = fileURLToPath(import.meta.url);
const THREAD_FILE = path.join(path.dirname(here), `model-file-thread${path.extname(here)}`);

const IMPORT_ANSWERS: ThreadAnswers = {
  path: '/file',
  timeout: {
    code: 'import_timeout',
    message: (ms) =>
      `reading the model file and building its model took longer than ${ms.toLocaleString('en')} ms (IMPORT_TIMEOUT_MS); use a smaller model`,
  },
  memory: {
    code: 'import_memory',
    message: (mb) =>
      `reading the model file and building its model needed more than ${mb} MB (IMPORT_MEMORY_MB); use a smaller model`,
  },
  busy: {
    code: 'import_busy',
    message: (waiting) => `${waiting} model imports and exports are waiting for a thread; try again shortly`,
  },
};

const EXPORT_ANSWERS: ThreadAnswers = {
  path: '/format',
  timeout: {
    code: 'export_timeout',
    message: (ms) =>
      `writing the Keras HDF5 file took longer than ${ms.toLocaleString('en')} ms (IMPORT_TIMEOUT_MS); export format=tfjs instead`,
  },
  memory: {
    code: 'export_memory',
    message: (mb) =>
      `writing the Keras HDF5 file needed more than ${mb} MB (IMPORT_MEMORY_MB); export format=tfjs instead`,
  },
  busy: {
    code: 'export_busy',
    message: (waiting) => `${waiting} model imports and exports are waiting for a thread; try again shortly`,
  },
};

/**
 * Keras files in and out (POST /models/import, GET /models/:id/export?format=keras-h5) off the
 * API's event loop and its compute backend: parsing, building the model and writing HDF5 run
 * in threads with a time and heap limit (bounded-threads.ts), IMPORT_THREADS of them, shared
 * by imports and exports.
 */
export class ModelFileThreads {
  private readonly threads: BoundedThreads<ModelFileInput, ImportResult | null>;

  constructor(options: ModelFileThreadOptions) {
    this.threads = new BoundedThreads({ ...options, filename: THREAD_FILE, answers: IMPORT_ANSWERS });
  }

  /** Reads the uploads, builds the model under the limits and stages its files in `input.stagingDir`. */
  async importModel(input: Omit<ImportInput, 'kind'>): Promise<ImportResult> {
    return (await this.threads.run({ kind: 'import', ...input }, IMPORT_ANSWERS))!;
  }

  /** Writes a stored model's Keras HDF5 file. */
  async exportKerasH5(input: Omit<ExportInput, 'kind'>): Promise<void> {
    await this.threads.run({ kind: 'export', ...input }, EXPORT_ANSWERS);
  }

  close(): Promise<void> {
    return this.threads.close();
  }
}
