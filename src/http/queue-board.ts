import type { FastifyPluginAsync } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { AppError } from '../errors.ts';
import { sendProblem } from './error-handler.ts';

export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Bull Board, read-only, at /admin/queues: admins only when keys are configured. Its page's
 * own requests cannot carry a Bearer header, so it also takes HTTP Basic auth (any user name,
 * an admin key as password), which the browser then sends with each of them. Job state
 * changes only through the API (our job records are the truth; BullMQ's jobs follow them):
 * the board's queue is read-only, and anything but GET and HEAD is refused here too.
 */
export const queueBoard: FastifyPluginAsync = async (app) => {
  const server = new FastifyAdapter();
  server.setBasePath(QUEUE_BOARD_PATH);
  const board = createBullBoard({ queues: [], serverAdapter: server, options: { uiConfig: { boardTitle: 'tts' } } });
  // The queue is added on first use: building the app (e.g. for the OpenAPI document) needs no Redis.
  let added = false;
  // Refusals are answered here, as problem+json: errors passed on would reach the board's own error handler.
  const guard = app.adminOnly({ basic: 'tts admin' });
  app.addHook('onRequest', (request, reply, done) => {
    guard.call(app, request, reply, (err) => {
      if (!(err instanceof AppError)) return done(err);
      reply.headers(err.headers);
      void sendProblem(reply, err.status, err.code, err.message);
    });
  });
  app.addHook('preHandler', (request, reply, done) => {
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return void sendProblem(reply, 403, 'read_only', 'the queue board is read-only: change jobs through /v1');
    if (!added) {
      board.addQueue(new BullMQAdapter(app.services.queue(), { readOnlyMode: true }));
      added = true;
    }
    done();
  });
  await app.register(server.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
};
