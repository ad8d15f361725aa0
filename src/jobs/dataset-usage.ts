import type { Redis } from 'ioredis';
import { keys } from '../storage/keys.ts';

/**
 * Ids of queued or running jobs whose request names the dataset (for training or testing):
 * deleting it under them would fail them, so the API refuses with 409.
 */
export async function jobsUsingDataset(redis: Redis, prefix: string, datasetId: string): Promise<string[]> {
  const k = keys(prefix);
  const ids = [
    ...(await redis.zrange(k.jobsByStatus('queued'), '0', '-1')),
    ...(await redis.zrange(k.jobsByStatus('running'), '0', '-1')),
  ];
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(k.job(id), 'request');
  const rows = (await pipeline.exec()) ?? [];
  return ids.filter((_, i) => {
    const raw = rows[i]?.[1];
    if (typeof raw !== 'string') return false;
    const data = (JSON.parse(raw) as { data?: { dataset?: string; testDataset?: string } }).data;
    return data?.dataset === datasetId || data?.testDataset === datasetId;
  });
}
