/** One field-level problem, named by its JSON path in the request (`/model/layers/0/units`). */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * The one error type of the service: an HTTP status, a stable machine code, and the
 * field errors that explain it. Domain code throws it; the HTTP error handler renders it as
 * problem+json and workers turn it into a job's `error`.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: FieldError[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (message: string, errors: FieldError[] = []) =>
  new AppError(400, 'bad_request', message, errors);

export const unprocessable = (message: string, errors: FieldError[] = []) =>
  new AppError(422, 'unprocessable', message, errors);

export const notFound = (what: string, id: string) => new AppError(404, 'not_found', `${what} ${id} does not exist`);

export const conflict = (message: string) => new AppError(409, 'conflict', message);

/** Throws one 422 listing every collected field error, or returns quietly if there are none. */
export function throwIfErrors(errors: FieldError[], message = 'the request is not valid') {
  if (errors.length > 0)
    throw unprocessable(`${message}: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, errors);
}
