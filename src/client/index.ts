/**
 * The service's typed HTTP client, published as `tfjs-training-service/client`; the CLI, the
 * tests and the benchmarks use it too. It imports only the schemas' types and runs wherever
 * there is a global fetch (Node 20+).
 */
export { TrainingClient, type CallOptions, type DatasetUpload, type TrainingClientOptions } from './training-client.ts';
export { ApiError, ConnectionError, problemMessage } from './errors.ts';
export type { FollowOptions } from './follow-job.ts';
export type * from './types.ts';
