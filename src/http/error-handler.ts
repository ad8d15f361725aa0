import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';
import { AppError, type FieldError } from '../errors.ts';
import { fieldErrors } from './validation.ts';
import { StoreUnavailableError } from '../storage/object-store.ts';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A request with thousands of bad fields gets the first ones, not an answer as big as the request. */
const MAX_FIELD_ERRORS = 50;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The setting a route's `bodyLimit` comes from, named in its 413 answers (default BODY_LIMIT_BYTES). */
    bodyLimitSetting?: string;
  }
}

export function sendProblem(reply: FastifyReply, status: number, code: string, detail: string, errors?: FieldError[]) {
  const shown = errors?.slice(0, MAX_FIELD_ERRORS);
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: `urn:problem:${code}`,
      title: TITLES[status] ?? 'Error',
      status,
      code,
      detail,
      ...(shown?.length ? { errors: shown } : {}),
    });
}

/**
 * Errors the router raises before any route runs (Fastify's `frameworkErrors`): an id longer
 * than a path parameter may be is an id that does not exist; a URL that cannot be decoded is a 400.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const url = request.url.length > 200 ? `${request.url.slice(0, 200)}…` : request.url;
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return sendProblem(reply, 404, 'not_found', `no resource at ${url}: a path parameter is longer than any id`);
  if (err.code === 'FST_ERR_BAD_URL')
    return sendProblem(
      reply,
      400,
      'bad_url',
      `the URL ${url} is not valid: a path segment is not percent-encoded UTF-8`,
    );
  return errorHandler(err, request, reply);
}

/** Redis being away is not our bug: 503 with Retry-After, so clients back off and retry. */
function isRedisDown(err: Error): boolean {
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /ECONNREFUSED|Connection is closed|Stream isn't writeable|ETIMEDOUT|Command timed out/.test(err.message ?? '')
  );
}

/** The one error handler: every error leaves as application/problem+json; 5xx hide internals. */
export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof AppError) {
    for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    return sendProblem(reply, err.status, err.code, err.message, err.errors);
  }
  if (err.validation) {
    const part = err.validationContext ?? 'body';
    if (part === 'params') return sendProblem(reply, 404, 'not_found', `no resource at ${request.url}`);
    const errors = fieldErrors(err.validation as ErrorObject[], part);
    const detail = `the request ${part} is not valid: ${errors
      .slice(0, 3)
      .map((e) => `${e.path} ${e.message}`)
      .join('; ')}`;
    return sendProblem(reply, 400, 'validation_failed', detail, errors);
  }
  if (
    err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    err instanceof SyntaxError
  ) {
    return sendProblem(reply, 400, 'malformed_json', `the body is not valid JSON: ${err.message}`);
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = request.routeOptions.bodyLimit;
    const setting = request.routeOptions.config?.bodyLimitSetting ?? 'BODY_LIMIT_BYTES';
    return sendProblem(
      reply,
      413,
      'body_too_large',
      `the request body is larger than ${limit?.toLocaleString('en') ?? 'the limit of'} bytes, the limit of this route; it is set by ${setting}`,
    );
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const type = request.headers['content-type'];
    const accepted = (request.routeOptions.schema as { consumes?: string[] } | undefined)?.consumes ?? [
      'application/json',
    ];
    return sendProblem(
      reply,
      415,
      'unsupported_media_type',
      `send the body as ${accepted.join(', ')}, not ${type ? JSON.stringify(type.slice(0, 100)) : 'without a content type'}`,
    );
  }
  if (err instanceof StoreUnavailableError) {
    request.server.services?.metrics.storeErrors.inc({ store: 'objects', kind: 'request' });
    request.log.warn({ err: err.message }, 'object store unavailable');
    reply.header('Retry-After', String(err.retryAfterSeconds));
    return sendProblem(reply, 503, 'storage_unavailable', `${err.message}; retry shortly`);
  }
  if (isRedisDown(err)) {
    request.server.services?.metrics.storeErrors.inc({ store: 'redis', kind: 'request' });
    request.log.warn({ err: err.message }, 'redis unavailable');
    reply.header('Retry-After', '5');
    return sendProblem(reply, 503, 'unavailable', 'the job store is unreachable; retry shortly');
  }
  const status = err.statusCode ?? 500;
  if (status < 500) return sendProblem(reply, status, (err.code ?? 'error').toLowerCase(), err.message);
  request.log.error({ err }, 'unhandled error');
  return sendProblem(reply, 500, 'internal', 'an internal error occurred; it has been logged');
}
