// A thread's entry when the service runs its TypeScript through tsx (tests, `npm run dev`):
// tsx's hooks from `--import tsx` do not reliably reach modules a worker thread loads after its
// first (h5wasm's start-up import), so the thread registers them itself, then loads the
// TypeScript module bounded-threads.ts names. Compiled (`dist/`), threads load their .js directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const thread = await import(workerData.thread);
export default thread.default;
