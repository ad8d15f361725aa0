import fp from 'fastify-plugin';
import bearerAuth from '@fastify/bearer-auth';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { AppError } from '../errors.ts';
import { LOCAL_TENANT, type Tenant } from '../tenant.ts';
import type { Keyring } from './api-keys.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts for; set by `authenticate` on every /v1 route. */
    tenant: Tenant;
  }
  interface FastifyInstance {
    /** onRequest hook: with keys configured, a valid Bearer key or 401; without, the local tenant. */
    authenticate: onRequestHookHandler;
  }
}

const unauthorized = (reason: string) =>
  new AppError(401, 'unauthorized', `${reason}: send Authorization: Bearer <API key>`, [], { 'WWW-Authenticate': 'Bearer realm="tts"' });

/**
 * API keys. @fastify/bearer-auth parses the header; our `Keyring` maps the key to its tenant
 * in constant time. Every reply to a bad key is the same 401, whether the key was missing,
 * malformed or unknown. Request logs carry the tenant; keys never reach a log.
 */
export const auth = fp<{ keyring: Keyring }>(
  async (app, { keyring }) => {
    app.decorateRequest('tenant', null as unknown as Tenant);
    const actAs = (request: FastifyRequest, reply: FastifyReply, tenant: Tenant) => {
      request.tenant = tenant;
      request.log = reply.log = request.log.child({ tenant: tenant.id });
    };
    if (keyring.size === 0) {
      app.log.warn('NO API KEYS CONFIGURED: every /v1 route is open to anyone who can reach this port (set API_KEYS or API_KEYS_FILE)');
      app.decorate('authenticate', function (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
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
    app.decorate('authenticate', function (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
      app.verifyBearerAuth!(request, reply, (err?: Error) => {
        if (err) return done((err as { statusCode?: number }).statusCode === 401 ? unauthorized(err.message.replace(/\.$/, '')) : err);
        actAs(request, reply, request.tenant);
        done();
      });
    });
  },
  { name: 'auth' },
);
