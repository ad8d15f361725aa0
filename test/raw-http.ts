import assert from 'node:assert/strict';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  status: number;
  type: string;
  text: string;
  /** The parsed JSON, if the answer was JSON: tests read whatever came back. */
  body: any;
  headers: IncomingHttpHeaders;
}

export interface RawOptions {
  body?: string | Buffer;
  type?: string;
  headers?: Record<string, string>;
  agent?: Agent;
  /** An answer not received by then fails the request instead of hanging the run. */
  timeoutMs?: number;
}

/**
 * Any method, path, body, content type and headers, sent exactly as given: fetch would
 * normalize a path (`..`) and add or change headers, which hostile cases must control.
 */
export function rawRequest(base: string, method: string, urlPath: string, opts: RawOptions = {}): Promise<RawAnswer> {
  const { port } = new URL(base);
  const headers: Record<string, string | number> = { ...opts.headers };
  if (opts.type) headers['content-type'] = opts.type;
  if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({
          status: res.statusCode!,
          type: String(res.headers['content-type'] ?? ''),
          text,
          body,
          headers: res.headers,
        });
      });
      res.on('error', reject);
    });
    if (opts.timeoutMs)
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`${method} ${urlPath} was not answered`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * The answer is the problem we expect: status, problem+json, code, and the field path (a
 * string: some `errors[].path` equals it) or the detail (a pattern) naming the reason.
 */
export function assertProblem(
  answer: Omit<RawAnswer, 'headers'>,
  status: number,
  code: string | undefined,
  names: string | RegExp,
) {
  const context = answer.text.slice(0, 600);
  assert.equal(answer.status, status, context);
  assert.match(answer.type, /^application\/problem\+json/, context);
  assert.equal(answer.body.status, status, context);
  if (code) assert.equal(answer.body.code, code, context);
  if (typeof names === 'string') {
    assert.ok(
      (answer.body.errors ?? []).some((e: { path: string }) => e.path === names),
      `no error at ${names}: ${context}`,
    );
  } else assert.match(answer.body.detail, names, context);
  return answer.body;
}
