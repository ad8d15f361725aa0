import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Multipart } from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';

export const malformedForm = (message: string) => new AppError(400, 'malformed_multipart', message);

/** The boundary parameter of a multipart content type; a 400 when it has none (the parser would fail with a 500). */
export function formBoundary(contentType: string | undefined): string {
  const match = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(contentType ?? '');
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary)
    throw malformedForm(
      'multipart/form-data needs a boundary: send Content-Type: multipart/form-data; boundary=<the delimiter of its parts>',
    );
  return boundary;
}

/**
 * Calls `onUnterminated` when the body ends without the form's closing delimiter
 * (CRLF--boundary--). The multipart parser never settles a part whose form breaks off like
 * that, so without this such an upload would wait for a body that has already ended.
 */
function watchFormEnd(raw: IncomingMessage, boundary: string, onUnterminated: () => void) {
  const close = Buffer.from(`\r\n--${boundary}--`);
  // The body may open with the closing delimiter (an empty form), without the CRLF before it.
  let tail = Buffer.from('\r\n');
  let closed = false;
  const onData = (chunk: Buffer) => {
    if (closed) return;
    const joined = Buffer.concat([tail, chunk.subarray(0, close.length)]);
    if (joined.includes(close) || chunk.includes(close)) {
      closed = true;
      raw.off('data', onData);
      return;
    }
    tail = Buffer.from(
      chunk.length >= close.length
        ? chunk.subarray(chunk.length - close.length + 1)
        : Buffer.concat([tail, chunk]).subarray(-(close.length - 1)),
    );
  };
  raw.on('data', onData);
  raw.once('end', () => {
    if (!closed) onUnterminated();
  });
}

/** Errors of the multipart parser as answers: a form that cannot be read is the client's 400, too many parts a 413. */
function formError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const { statusCode, message } = err as { statusCode?: number; message?: string };
  if (statusCode !== undefined && statusCode >= 500) return err;
  if (statusCode === 413)
    return new AppError(
      413,
      'form_too_large',
      `the form has too many parts (${message}): an upload is at most 2 files and 10 fields`,
    );
  return malformedForm(`the form could not be read: ${message ?? String(err)}`);
}

/**
 * The parts of a multipart upload, with the failures of a broken form as 4xx answers: no
 * boundary, a body that ends before the closing delimiter (the part being read fails at
 * once, instead of waiting forever), malformed parts, too many parts.
 */
export async function* formParts(request: FastifyRequest): AsyncGenerator<Multipart> {
  const boundary = formBoundary(request.headers['content-type']);
  const iterator = request.parts()[Symbol.asyncIterator]();
  let current: Readable | undefined;
  let fail: (err: AppError) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  // The first call starts the parser, which pipes the body into it; only then may we watch the body too.
  let next = iterator.next();
  watchFormEnd(request.raw, boundary, () => {
    const err = malformedForm(`the form ended without its closing delimiter "--${boundary}--": the body was cut short`);
    current?.destroy(err);
    fail(err);
  });
  try {
    for (;;) {
      const step = await Promise.race([next, failed]);
      if (step.done) return;
      if (step.value.type === 'file') current = step.value.file;
      yield step.value;
      next = iterator.next();
    }
  } catch (err) {
    throw formError(err);
  }
}

/**
 * After a refused upload, the rest of its body: read and dropped, so the client can finish
 * sending and read the answer, and the connection closed after the answer, so a keep-alive
 * client's next request never queues behind a body nobody reads.
 */
export function discardBody(request: FastifyRequest, reply: FastifyReply) {
  const raw = request.raw;
  if (raw.readableEnded) return;
  raw.unpipe();
  raw.resume();
  reply.header('connection', 'close');
}
