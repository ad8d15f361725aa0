import { timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import bearerAuth from '@fastify/bearer-auth';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { AppError } from '../errors.ts';
import { LOCAL_TENANT, type Tenant } from '../tenant.ts';
import { digest, type Keyring } from './api-keys.ts';
import { AuthFailures } from './auth-failures.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts for; set by `authenticate` on every /v1 route. */
    tenant: Tenant;
  }
  interface FastifyInstance {
    /** onRequest hook: with keys configured, a valid Bearer key or 401; without, the local tenant. */
    authenticate: onRequestHookHandler;
    /**
     * An onRequest hook for operator routes (/metrics, /admin/queues), outside /v1: with keys
     * configured or `token` set, an admin key or `token` as `Authorization: Bearer`, else 401
     * (403 for a key without admin); with neither, open. `basic` (a realm) also takes the
     * credential as the password of HTTP Basic auth, for pages a browser opens, and
     * challenges with it.
     */
    adminOnly(options?: { token?: string; basic?: string }): onRequestHookHandler;
  }
}

/** The credential of a `Bearer <credential>` header, or with `basic` the password of a `Basic` one. */
function presented(header: string | undefined, basic: boolean): string | undefined {
  const match = /^(\S+) +(\S+)$/.exec(header ?? '');
  if (!match) return undefined;
  const scheme = match[1].toLowerCase();
  if (scheme === 'bearer') return match[2];
  if (scheme !== 'basic' || !basic) return undefined;
  const decoded = Buffer.from(match[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

const unauthorized = (reason: string) =>
  new AppError(401, 'unauthorized', `${reason}: send Authorization: Bearer <API key>`, [], {
    'WWW-Authenticate': 'Bearer realm="tts"',
  });

const tooManyFailures = (limit: number, seconds: number) =>
  new AppError(
    429,
    'too_many_auth_failures',
    `more than ${limit} failed authentications from this address in a minute (AUTH_FAILURES_PER_MINUTE); retry in ${seconds} s`,
    [],
    {
      'Retry-After': String(seconds),
    },
  );

/**
 * API keys. @fastify/bearer-auth parses the header; our `Keyring` maps the key to its tenant
 * in constant time. Every reply to a bad key is the same 401, whether the key was missing,
 * malformed or unknown. Request logs carry the tenant; keys never reach a log. Failures are
 * limited per client address (AuthFailures): over AUTH_FAILURES_PER_MINUTE, a 429.
 */
export const auth = fp<{ keyring: Keyring }>(
  async (app, { keyring }) => {
    app.decorateRequest('tenant', null as unknown as Tenant);
    const actAs = (request: FastifyRequest, reply: FastifyReply, tenant: Tenant) => {
      request.tenant = tenant;
      request.log = reply.log = request.log.child({ tenant: tenant.id });
    };
    const { config, redis } = app.services;
    const failures =
      config.AUTH_FAILURES_PER_MINUTE > 0
        ? new AuthFailures(redis, `${config.REDIS_PREFIX}:authfail:`, config.AUTH_FAILURES_PER_MINUTE)
        : undefined;
    type Done = (err?: Error) => void;
    /** A refused credential: the refusal, or a 429 once the address has failed too often (Redis away: uncounted, the refusal stands). */
    const refuse = (address: string, blockedFor: number, refusal: AppError, done: Done) => {
      if (!failures) return done(refusal);
      if (blockedFor > 0) return done(tooManyFailures(failures.limit, blockedFor));
      failures.failed(address).then(
        (wait) => done(wait > 0 ? tooManyFailures(failures.limit, wait) : refusal),
        () => done(refusal),
      );
    };
    /**
     * A valid credential of `who`: false (and a 429 sent to `done`) when the address is blocked,
     * since a blocked address gets the same 429 for a right key as for a wrong one, unless
     * `who` was already at work there.
     */
    const admit = (address: string, blockedFor: number, who: string, done: Done) => {
      if (!failures) return true;
      if (blockedFor > 0 && !failures.isKnown(address, who)) {
        done(tooManyFailures(failures.limit, blockedFor));
        return false;
      }
      failures.succeeded(address, who);
      return true;
    };
    app.decorate('adminOnly', ({ token = '', basic }: { token?: string; basic?: string } = {}) => {
      if (keyring.size === 0 && !token)
        return (request: FastifyRequest, reply: FastifyReply, done: Done) => {
          actAs(request, reply, LOCAL_TENANT);
          done();
        };
      const tokenDigest = token ? digest(token) : undefined;
      const refused = () =>
        new AppError(
          401,
          'unauthorized',
          `send Authorization: Bearer <admin API key${token ? ' or METRICS_TOKEN' : ''}>${basic ? ', or the admin API key as the password of HTTP Basic auth' : ''}`,
          [],
          { 'WWW-Authenticate': basic ? `Basic realm="${basic}"` : 'Bearer realm="tts"' },
        );
      return (request: FastifyRequest, reply: FastifyReply, done: Done) => {
        const address = request.ip;
        const blockedFor = failures?.blockedFor(address) ?? 0;
        const credential = presented(request.headers.authorization, basic !== undefined);
        const byToken =
          credential !== undefined && tokenDigest !== undefined && timingSafeEqual(digest(credential), tokenDigest);
        const tenant = credential === undefined ? undefined : keyring.identify(credential);
        if (byToken || tenant) {
          if (!admit(address, blockedFor, tenant?.id ?? ':metrics-token', done)) return;
          if (!byToken && !tenant?.admin)
            return done(new AppError(403, 'forbidden', `the key of tenant ${tenant?.id} is not an admin key`));
          if (tenant) actAs(request, reply, tenant);
          return done();
        }
        refuse(address, blockedFor, refused(), done);
      };
    });
    if (keyring.size === 0) {
      app.log.warn(
        'NO API KEYS CONFIGURED: every /v1 route is open to anyone who can reach this port (set API_KEYS or API_KEYS_FILE)',
      );
      app.decorate('authenticate', (request: FastifyRequest, reply: FastifyReply, done: Done) => {
        actAs(request, reply, LOCAL_TENANT);
        done();
      });
      return;
    }
    await app.register(bearerAuth, {
      addHook: false,
      keys: [],
      verifyErrorLogLevel: 'info',
      auth: (key: string, request: FastifyRequest) => {
        const tenant = keyring.identify(key);
        if (tenant) request.tenant = tenant;
        return tenant !== undefined;
      },
    });
    app.decorate('authenticate', (request: FastifyRequest, reply: FastifyReply, done: Done) => {
      const address = request.ip;
      const blockedFor = failures?.blockedFor(address) ?? 0;
      app.verifyBearerAuth!(request, reply, (err?: Error) => {
        if (err) {
          if ((err as { statusCode?: number }).statusCode !== 401) return done(err);
          return refuse(address, blockedFor, unauthorized(err.message.replace(/\.$/, '')), done);
        }
        if (!admit(address, blockedFor, request.tenant.id, done)) return;
        actAs(request, reply, request.tenant);
        done();
      });
    });
  },
  { name: 'auth', dependencies: ['services'] },
);
