import type { Redis } from 'ioredis';

/**
 * "Load this model now": said when an alias is about to point at it, so that every API
 * process, not only the one that moved the alias, has it loaded when traffic follows the
 * alias. Redis pub/sub: fire and forget, nothing is kept; a process that misses it loads the
 * model on its first request, as before.
 */
const channel = (prefix: string) => `${prefix}:models:warm`;

export async function announceWarm(redis: Redis, prefix: string, modelId: string) {
  await redis.publish(channel(prefix), modelId);
}

/** Calls `onModel` with every model id announced; the returned function stops listening. */
export function listenForWarm(redis: Redis, prefix: string, onModel: (modelId: string) => void): () => void {
  // A subscribed connection can do nothing else: its own, which keeps reconnecting on its own.
  const subscriber = redis.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
  subscriber.on('error', () => undefined);
  subscriber.on('message', (_channel, modelId) => onModel(modelId));
  void subscriber.subscribe(channel(prefix)).catch(() => undefined);
  return () => subscriber.disconnect();
}
