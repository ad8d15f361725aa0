import { ApiError, ConnectionError } from './errors.ts';
import { followEvents, followJobEvents, type FollowOptions, type OpenStream } from './follow-job.ts';
import type {
  Alias,
  AliasMove,
  CancelRequest,
  CreateVersionRequest,
  Dataset,
  DatasetListQuery,
  DatasetPage,
  Job,
  JobEvent,
  JobListQuery,
  JobPage,
  JobRequest,
  JobStatus,
  Model,
  ModelListQuery,
  ModelPage,
  PredictRequest,
  PredictResponse,
  RegisteredModel,
  RegisteredModelQuery,
  RegisteredRef,
  RegistryListQuery,
  RegistryPage,
  RegistryVersion,
  RegistryVersionDetail,
  Sweep,
  SweepEvent,
  SweepListQuery,
  SweepPage,
  SweepRequest,
  UploadQuery,
  ValidationReport,
} from './types.ts';

export interface TrainingClientOptions {
  /** Where the service listens, e.g. `http://127.0.0.1:3000` (without `/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`: a service with API_KEYS set answers 401 to any /v1 request without a valid key. */
  apiKey?: string;
  /** Another fetch (instrumented, proxied); default the global one. */
  fetch?: typeof globalThis.fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** Bytes sent as they are read: a web ReadableStream, a Node Readable, any async iterable of chunks. */
export type RawBody = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** A dataset to upload, with the options the service takes (all optional; see `UploadQuery`). */
export type DatasetUpload = UploadQuery &
  (
    | {
        /**
         * CSV or JSON. A Blob or File goes as multipart/form-data (the format from `format`,
         * else the file name, else its type); a stream of bytes goes as the raw request body,
         * never held whole in memory, and needs `format`.
         */
        file: Blob | RawBody;
        /** The file name the service sees (a File's own name otherwise). */
        filename?: string;
      }
    | { /** IDX: the images and labels files (plain or gzip). */ images: Blob; labels: Blob }
  );

const RAW_TYPES = { csv: 'text/csv', json: 'application/json' } as const;
const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

/** The training service over HTTP: jobs and sweeps, their event streams, models and predictions, the registry, datasets. Non-2xx answers throw `ApiError`. */
export class TrainingClient {
  readonly baseUrl: string;
  readonly #apiKey?: string;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: TrainingClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey || undefined;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** POST /v1/jobs: checked, dry-run, then queued; answers the job record (status `queued`). */
  submitJob(request: JobRequest, options?: CallOptions): Promise<Job> {
    return this.#json('POST', '/v1/jobs', { ...options, json: request });
  }

  /** POST /v1/models/validate: the dry run alone (summary, estimates, warnings); nothing is queued. */
  validateJob(request: JobRequest, options?: CallOptions): Promise<ValidationReport> {
    return this.#json('POST', '/v1/models/validate', { ...options, json: request });
  }

  getJob(id: string, options?: CallOptions): Promise<Job> {
    return this.#json('GET', `/v1/jobs/${encodeURIComponent(id)}`, options);
  }

  /** Newest first; follow `nextCursor` for the next page. */
  listJobs(query: JobListQuery = {}, options?: CallOptions): Promise<JobPage> {
    return this.#json('GET', `/v1/jobs${search(query)}`, options);
  }

  /** A queued job is cancelled at once; a running one stops within a batch (watch it with `followJob`). */
  cancelJob(id: string, request: CancelRequest = {}, options?: CallOptions): Promise<Job> {
    return this.#json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, { ...options, json: request });
  }

  /**
   * The job's events, its history first, then live ones, ending with `end`. A dropped connection
   * is reopened after the last event seen, so none is missed or repeated (see FollowOptions).
   */
  followJob(id: string, options: FollowOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
    return followJobEvents(id, this.#openEvents(`/v1/jobs/${encodeURIComponent(id)}/events`), options);
  }

  /** An event stream's opener for the followers: after `lastEventId`, when there is one. */
  #openEvents(path: string): OpenStream {
    return async (lastEventId, signal) => {
      const headers: Record<string, string> = {
        accept: 'text/event-stream',
        ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
      };
      return this.#checked(await this.#send('GET', path, { headers, signal }));
    };
  }

  /**
   * Follows the job until it reaches one of `statuses` (default: it ended) and answers its
   * record then. A job that ends in another status is an error.
   */
  async waitForJob(id: string, options: CallOptions & { statuses?: readonly JobStatus[] } = {}): Promise<Job> {
    const statuses = options.statuses ?? TERMINAL;
    for await (const event of this.followJob(id, { signal: options.signal })) {
      if (event.event !== 'status' && event.event !== 'end') continue;
      if (statuses.includes(event.data.status)) return this.getJob(id, options);
      if (event.event === 'end') throw new Error(`job ${id} ended ${event.data.status}, not ${statuses.join(' or ')}`);
    }
    throw new Error(`job ${id} has no end event: its history has expired`);
  }

  /** POST /v1/sweeps: every trial is planned and dry-run first; answers the sweep (its first `parallelism` trials queued). */
  submitSweep(request: SweepRequest, options?: CallOptions): Promise<Sweep> {
    return this.#json('POST', '/v1/sweeps', { ...options, json: request });
  }

  /** The sweep with its trials and best so far; `request: true` adds the request as accepted. */
  getSweep(id: string, options: CallOptions & { request?: boolean } = {}): Promise<Sweep> {
    return this.#json('GET', `${sweepPath(id)}${search({ request: options.request ? 'true' : undefined })}`, options);
  }

  /** Newest first, without their trials; follow `nextCursor` for the next page. */
  listSweeps(query: SweepListQuery = {}, options?: CallOptions): Promise<SweepPage> {
    return this.#json('GET', `/v1/sweeps${search(query)}`, options);
  }

  /** Cancels the sweep's unfinished trials: `cancelled` at once, or `cancelling` while running ones stop. A finished sweep is a 409. */
  cancelSweep(id: string, options?: CallOptions): Promise<Sweep> {
    return this.#json('POST', `${sweepPath(id)}/cancel`, options);
  }

  /**
   * The sweep's events (trial transitions, every trial's epochs, best changes), its history
   * first, ending with `end`; a dropped connection resumes as `followJob`'s does.
   */
  followSweep(id: string, options: FollowOptions = {}): AsyncGenerator<SweepEvent, void, undefined> {
    return followEvents<SweepEvent>(`sweep ${id}`, this.#openEvents(`${sweepPath(id)}/events`), options);
  }

  /** Follows the sweep to its end, whichever status, and answers its record then. */
  async waitForSweep(id: string, options: CallOptions = {}): Promise<Sweep> {
    for await (const _event of this.followSweep(id, { signal: options.signal })) {
      // Only the end matters: the stream closes after it.
    }
    return this.getSweep(id, options);
  }

  /** Newest first; follow `nextCursor` for the next page. */
  listModels(query: ModelListQuery = {}, options?: CallOptions): Promise<ModelPage> {
    return this.#json('GET', `/v1/models${search(query)}`, options);
  }

  getModel(id: string, options?: CallOptions): Promise<Model> {
    return this.#json('GET', `/v1/models/${encodeURIComponent(id)}`, options);
  }

  /** Deletes the model and its artifacts. */
  async deleteModel(id: string, options?: CallOptions): Promise<void> {
    await this.#json('DELETE', `/v1/models/${encodeURIComponent(id)}`, options);
  }

  /** Raw instances in the form the model was trained on (or the whole `{instances}` body); the training transforms are applied again. */
  predict(
    modelId: string,
    input: unknown[] | (PredictRequest & { instances: unknown[] }),
    options?: CallOptions,
  ): Promise<PredictResponse> {
    const body = Array.isArray(input) ? { instances: input } : input;
    return this.#json('POST', `/v1/models/${encodeURIComponent(modelId)}/predict`, { ...options, json: body });
  }

  /** The registered models, by name; follow `nextCursor` for the next page. */
  listRegistry(query: RegistryListQuery = {}, options?: CallOptions): Promise<RegistryPage> {
    return this.#json('GET', `/v1/registry${search(query)}`, options);
  }

  /** A registered model: its aliases and versions, newest first (`query.cursor`: the next page's). */
  getRegisteredModel(name: string, query: RegisteredModelQuery = {}, options?: CallOptions): Promise<RegisteredModel> {
    return this.#json('GET', `${registered(name)}${search(query)}`, options);
  }

  /** Registers a stored model as the next version of `name` (the first creates the name). */
  registerVersion(name: string, request: CreateVersionRequest, options?: CallOptions): Promise<RegistryVersion> {
    return this.#json('POST', `${registered(name)}/versions`, { ...options, json: request });
  }

  getVersion(name: string, version: number, options?: CallOptions): Promise<RegistryVersionDetail> {
    return this.#json('GET', `${registered(name)}/versions/${version}`, options);
  }

  /** Refused (409) while an alias points at the version; its number is never given again. */
  async deleteVersion(name: string, version: number, options?: CallOptions): Promise<void> {
    await this.#json('DELETE', `${registered(name)}/versions/${version}`, options);
  }

  /** Points the alias at the version (creating or moving it); `previousVersion` is what a rollback sets back. */
  setAlias(name: string, alias: string, version: number, options?: CallOptions): Promise<AliasMove> {
    return this.#json('PUT', `${registered(name)}/aliases/${encodeURIComponent(alias)}`, {
      ...options,
      json: { version },
    });
  }

  /** Where the alias points, and its moves, oldest first. */
  getAlias(name: string, alias: string, options?: CallOptions): Promise<Alias> {
    return this.#json('GET', `${registered(name)}/aliases/${encodeURIComponent(alias)}`, options);
  }

  async deleteAlias(name: string, alias: string, options?: CallOptions): Promise<void> {
    await this.#json('DELETE', `${registered(name)}/aliases/${encodeURIComponent(alias)}`, options);
  }

  /**
   * Predicts with a registered model: its latest version, `version`, or the version `alias`
   * points at (resolved once for the request; the answer's `model` says which served it).
   */
  predictByName(
    ref: RegisteredRef,
    input: unknown[] | (PredictRequest & { instances: unknown[] }),
    options?: CallOptions,
  ): Promise<PredictResponse> {
    const body = Array.isArray(input) ? { instances: input } : input;
    const target =
      ref.alias !== undefined
        ? `/aliases/${encodeURIComponent(ref.alias)}`
        : ref.version !== undefined
          ? `/versions/${ref.version}`
          : '';
    return this.#json('POST', `${registered(ref.name)}${target}/predict`, { ...options, json: body });
  }

  /** Built-in datasets first (on the first page), then uploads, newest first. */
  listDatasets(query: DatasetListQuery = {}, options?: CallOptions): Promise<DatasetPage> {
    return this.#json('GET', `/v1/datasets${search(query)}`, options);
  }

  getDataset(id: string, options?: CallOptions): Promise<Dataset> {
    return this.#json('GET', `/v1/datasets/${encodeURIComponent(id)}`, options);
  }

  /** Refused (409) while a queued or running job uses it. */
  async deleteDataset(id: string, options?: CallOptions): Promise<void> {
    await this.#json('DELETE', `/v1/datasets/${encodeURIComponent(id)}`, options);
  }

  /** Uploads a dataset; the service parses it as it streams in and answers its description. */
  async uploadDataset(upload: DatasetUpload, options?: CallOptions): Promise<Dataset> {
    const { name, format, label, delimiter, text } = upload;
    const fields = { name, format, label, delimiter, text };
    if ('images' in upload) {
      return this.#uploadForm(
        fields,
        [
          ['images', upload.images, fileName(upload.images, 'images')],
          ['labels', upload.labels, fileName(upload.labels, 'labels')],
        ],
        options,
      );
    }
    const { file } = upload;
    if (file instanceof Blob)
      return this.#uploadForm(fields, [['file', file, upload.filename ?? fileName(file, 'file')]], options);
    if (format !== 'csv' && format !== 'json')
      throw new TypeError('a streamed dataset goes as the raw body: set format to csv or json');
    return this.#json('POST', `/v1/datasets${search(fields)}`, { ...options, body: file, type: RAW_TYPES[format] });
  }

  #uploadForm(
    fields: UploadQuery,
    files: [field: string, blob: Blob, filename: string][],
    options?: CallOptions,
  ): Promise<Dataset> {
    const form = new FormData();
    // Fields first: the service reads the options before the file streams in.
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) form.append(key, value);
    for (const [field, blob, filename] of files) form.append(field, blob, filename);
    return this.#json('POST', '/v1/datasets', { ...options, body: form });
  }

  /** A request whose answer is JSON (or nothing, 204). Its body: `json`, stringified, or `body` as it is (a form, or bytes streamed as read). */
  async #json<T>(
    method: string,
    path: string,
    options: CallOptions & { json?: unknown; body?: FormData | RawBody; type?: string } = {},
  ): Promise<T> {
    const { json, body, type, signal } = options;
    const contentType = json !== undefined ? 'application/json' : type;
    const init: RequestInit & { duplex?: 'half' } = {
      headers: { accept: 'application/json', ...(contentType ? { 'content-type': contentType } : {}) },
      signal,
      body: json !== undefined ? JSON.stringify(json) : (body as RequestInit['body']),
      // fetch sends a stream only when told it may start before the stream ends.
      ...(body !== undefined && !(body instanceof FormData) ? { duplex: 'half' as const } : {}),
    };
    const response = await this.#checked(await this.#send(method, path, init));
    return (await readBody(response)) as T;
  }

  async #send(method: string, path: string, init: RequestInit): Promise<Response> {
    const headers = {
      ...(this.#apiKey ? { authorization: `Bearer ${this.#apiKey}` } : {}),
      ...(init.headers as Record<string, string>),
    };
    try {
      return await this.#fetch(this.baseUrl + path, { ...init, method, headers });
    } catch (err) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new ConnectionError(this.baseUrl, err);
    }
  }

  /** The response when it is a 2xx; otherwise an ApiError made of its body. */
  async #checked(response: Response): Promise<Response> {
    if (response.ok) return response;
    throw new ApiError(response.status, await readBody(response));
  }
}

/** JSON when it parses, else the text (a proxy's page), null when empty. */
async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function search(query: Record<string, string | number | undefined>): string {
  const defined = Object.entries(query).filter((entry): entry is [string, string | number] => entry[1] !== undefined);
  return defined.length > 0 ? `?${new URLSearchParams(defined.map(([k, v]): [string, string] => [k, String(v)]))}` : '';
}

const sweepPath = (id: string) => `/v1/sweeps/${encodeURIComponent(id)}`;

const registered = (name: string) => `/v1/registry/${encodeURIComponent(name)}`;

const fileName = (blob: Blob, fallback: string) =>
  'name' in blob && typeof blob.name === 'string' && blob.name ? blob.name : fallback;
