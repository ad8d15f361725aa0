import type { Problem } from '../schemas/common.ts';

/** A non-2xx answer: its status, its body (problem+json, or the text of another), and a message from its detail and field errors. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly body: unknown,
    message = problemMessage(status, body),
  ) {
    super(message);
  }

  /** The problem+json body (RFC 9457) every error of the service has; undefined when something else answered (a proxy). */
  get problem(): Problem | undefined {
    const body = this.body as Partial<Problem> | null;
    return typeof body === 'object' && body !== null && typeof body.status === 'number' && typeof body.code === 'string'
      ? (body as Problem)
      : undefined;
  }
}

/** The service could not be reached at all (refused, reset, DNS): no answer to read. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';

  constructor(baseUrl: string, cause: unknown) {
    super(
      `cannot reach ${baseUrl}: ${((cause as Error).cause as Error | undefined)?.message ?? (cause as Error).message}`,
      { cause },
    );
  }
}

/** "detail" of a problem+json answer, with its field errors one per line. */
export function problemMessage(status: number, body: unknown): string {
  const problem = (typeof body === 'object' && body ? body : {}) as {
    detail?: string;
    title?: string;
    errors?: { path: string; message: string }[];
  };
  const head = problem.detail ?? problem.title ?? (typeof body === 'string' && body ? body : `HTTP ${status}`);
  // Field errors the detail does not already quote, one per line.
  const fields = (problem.errors ?? [])
    .filter((e) => !head.includes(e.message))
    .map((e) => `  ${e.path || '/'}: ${e.message}`);
  return [`${head} (HTTP ${status})`, ...fields].join('\n');
}
