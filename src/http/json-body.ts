import fp from 'fastify-plugin';
import { AppError } from '../errors.ts';
import { findJsonProblem } from '../json-guard.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Every number of the body must fit float32 (it becomes a float32 tensor as it is): larger ones are a 422 naming the path. */
    float32Body?: boolean;
    /** The body may be left out: an empty `application/json` body is no body, like none at all (the route fills in its default). */
    optionalBody?: boolean;
  }
}

/**
 * The JSON body parser of every route (the dataset routes stream their own): plain
 * `JSON.parse` (which makes `__proto__` an ordinary own key, never a prototype), then
 * `findJsonProblem` before anything else sees the body: prototype keys anywhere, nesting
 * beyond `maxDepth` and numbers that overflow to Infinity (`1e999`) are 400s naming the path;
 * on routes with `config.float32Body` a number beyond float32 is a 422 `beyond_float32`. The
 * route's body limit still applies (413). `text/plain` bodies are not parsed at all: every
 * route takes JSON, so they are a 415.
 */
export const jsonBody = fp<{ maxDepth: number }>(
  async (app, { maxDepth }) => {
    app.removeContentTypeParser(['application/json', 'text/plain']);
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, text, done) => {
      if ((text as string).trim() === '') {
        if (request.routeOptions.config?.optionalBody === true) return done(null, undefined);
        return done(new AppError(400, 'malformed_json', 'the body is empty; send a JSON document'), undefined);
      }
      let body: unknown;
      try {
        body = JSON.parse(text as string);
      } catch (err) {
        return done(
          new AppError(400, 'malformed_json', `the body is not valid JSON: ${(err as Error).message}`),
          undefined,
        );
      }
      const problem = findJsonProblem(body, { maxDepth, float32: request.routeOptions.config?.float32Body === true });
      if (problem) {
        // Beyond float32 is well-formed JSON the model cannot take: unprocessable rather than bad.
        const status = problem.code === 'beyond_float32' ? 422 : 400;
        return done(
          new AppError(status, problem.code, `${problem.path} ${problem.message}`, [
            { path: problem.path, message: problem.message },
          ]),
          undefined,
        );
      }
      done(null, body);
    });
  },
  { name: 'json-body' },
);
