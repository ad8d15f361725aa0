import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { AppError } from '../errors.ts';
import { sharedRateStore } from './rate-limit-store.ts';

/**
 * RATE_LIMIT_PER_MINUTE requests per tenant per minute, counted in Redis so every API
 * process shares one budget. Runs after `authenticate` (route hooks follow instance hooks),
 * so the key is the tenant. If Redis is away the limit is skipped: the routes answer 503 then.
 * The store (rate-limit-store.ts) takes counts from the shared one in leases, not per request.
 */
export const tenantRateLimit = fp(
  async (app) => {
    const { config, redis } = app.services;
    if (config.RATE_LIMIT_PER_MINUTE === 0) return;
    await app.register(rateLimit, {
      max: config.RATE_LIMIT_PER_MINUTE,
      timeWindow: 60_000,
      store: sharedRateStore(redis, `${config.REDIS_PREFIX}:ratelimit:`),
      skipOnError: true,
      keyGenerator: (request) => `tenant:${request.tenant?.id ?? request.ip}`,
      errorResponseBuilder: (request, context) =>
        new AppError(
          429,
          'rate_limited',
          `tenant ${request.tenant?.id} sent more than ${context.max} requests in a minute (RATE_LIMIT_PER_MINUTE); retry in ${context.after}`,
          [],
          { 'Retry-After': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        ),
    });
  },
  { name: 'tenant-rate-limit', dependencies: ['services', 'auth'] },
);
