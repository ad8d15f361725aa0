import { AppError, type FieldError } from '../errors.ts';

/** Loads a thread's module and tfjs in a new thread before timed work is given to it (see bounded-threads.ts). */
export const WARM_UP = 'warm-up';

/** An AppError does not survive structured cloning as an AppError, so it crosses a thread as data. */
export type ThreadOutput<T> =
  | { ok: true; result: T }
  | { ok: false; error: { status: number; code: string; message: string; errors: FieldError[] } };

/** A thread's answer: its result, or the AppError it refused the input with, as data; anything else is thrown. */
export async function threadOutput<T>(work: () => T | Promise<T>): Promise<ThreadOutput<T>> {
  try {
    return { ok: true, result: await work() };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { ok: false, error: { status: err.status, code: err.code, message: err.message, errors: err.errors } };
  }
}

/** The result a thread sent, or its refusal as the AppError it was. */
export function unwrapOutput<T>(output: ThreadOutput<T>): T {
  if (output.ok) return output.result;
  const { status, code, message, errors } = output.error;
  throw new AppError(status, code, message, errors);
}
