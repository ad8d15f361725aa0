import fp from 'fastify-plugin';
import { AppError } from '../errors.ts';
import { findJsonProblem } from '../json-guard.ts';

/**
 * The JSON body parser of every route (the dataset routes stream their own): plain
 * `JSON.parse` (which makes `__proto__` an ordinary own key, never a prototype), then
 * `findJsonProblem` before anything else sees the body: prototype keys anywhere and nesting
 * beyond `maxDepth` are 400s naming the path. The route's body limit still applies (413).
 * `text/plain` bodies are not parsed at all: every route takes JSON, so they are a 415.
 */
export const jsonBody = fp<{ maxDepth: number }>(
  async (app, { maxDepth }) => {
    app.removeContentTypeParser(['application/json', 'text/plain']);
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
      if ((text as string).trim() === '') return done(new AppError(400, 'malformed_json', 'the body is empty; send a JSON document'), undefined);
      let body: unknown;
      try {
        body = JSON.parse(text as string);
      } catch (err) {
        return done(new AppError(400, 'malformed_json', `the body is not valid JSON: ${(err as Error).message}`), undefined);
      }
      const problem = findJsonProblem(body, maxDepth);
      if (problem) return done(new AppError(400, problem.code, `${problem.path} ${problem.message}`, [{ path: problem.path, message: problem.message }]), undefined);
      done(null, body);
    });
  },
  { name: 'json-body' },
);
