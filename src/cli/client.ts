/** A small client of the service's HTTP API for the CLI: JSON in and out, problem+json errors as ApiError. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export class Client {
  readonly baseUrl: string;

  constructor(baseUrl: string, readonly key?: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** Every request carries the key, when there is one: a service with API_KEYS set answers 401 to any /v1 request without a valid key. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.key ? { authorization: `Bearer ${this.key}` } : {}), ...extra };
  }

  /** The one line a 401 prints, whichever command met it: what to set, not the server's wording. */
  unauthorized(): ApiError {
    return new ApiError(401, this.key
      ? 'the API refused the key: set TTS_API_KEY or --key to a valid one (HTTP 401)'
      : 'the API wants a key: set TTS_API_KEY or --key (HTTP 401)');
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const raw = body instanceof FormData;
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: this.headers({ accept: 'application/json', ...(body === undefined || raw ? {} : { 'content-type': 'application/json' }) }),
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    }).catch((err: Error) => {
      throw new ApiError(0, `cannot reach ${this.baseUrl}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
    });
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (response.status === 401) throw this.unauthorized();
    if (!response.ok) throw new ApiError(response.status, problemMessage(response.status, data), data);
    return data as T;
  }

  get<T>(path: string) {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body);
  }

  /** Opens a job's event stream (with the key, like every request), after `lastEventId` when resuming. */
  async events(jobId: string, lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    return fetch(`${this.baseUrl}/v1/jobs/${encodeURIComponent(jobId)}/events`, {
      headers: this.headers({ accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }),
      signal,
    });
  }
}

/** "detail" of a problem+json answer, with its field errors one per line. */
export function problemMessage(status: number, body: unknown): string {
  const problem = (typeof body === 'object' && body ? body : {}) as { detail?: string; title?: string; errors?: { path: string; message: string }[] };
  const head = problem.detail ?? problem.title ?? (typeof body === 'string' && body ? body : `HTTP ${status}`);
  // Field errors the detail does not already quote, one per line.
  const fields = (problem.errors ?? []).filter((e) => !head.includes(e.message)).map((e) => `  ${e.path || '/'}: ${e.message}`);
  return [`${head} (HTTP ${status})`, ...fields].join('\n');
}
