/**
 * Preloaded into a process a bench measures (`node --import ./bench/loop-monitor.mjs ...`):
 * records the longest event-loop stall and the peak RSS, and writes them as JSON to
 * LOOP_MONITOR_FILE when the process exits. Plain JavaScript: worker threads inherit the
 * preload before any TypeScript loader is in place. Only the main thread (the event loop
 * requests share) is measured.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env.LOOP_MONITOR_FILE;
if (file && isMainThread) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let peakRss = process.memoryUsage().rss;
  // Stalls over 20 ms with the wall-clock time they ended, so a bench can name the request.
  const stalls = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last - 20 > 20) stalls.push({ endedAt: Date.now(), ms: Math.round(now - last - 20) });
    last = now;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20).unref();
  process.on('exit', () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const stats = {
      maxStallMs: delay.max / 1e6,
      p99StallMs: delay.percentile(99) / 1e6,
      meanStallMs: delay.mean / 1e6,
      peakRssBytes: peakRss,
      stalls,
    };
    writeFileSync(file, JSON.stringify(stats));
  });
}
