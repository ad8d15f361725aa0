import http from 'node:http';

/**
 * A proxy in front of the API that cuts the first event stream right after its first epoch
 * event, as a dropped connection would, and records each stream request's Last-Event-ID and
 * Authorization. Everything else passes through untouched.
 *
 * With `hold`, the first stream stays open but silent after that event until `drop()`: a
 * browser may throw away the bytes it has not read yet when a connection fails, so the test
 * drops it only once the page has shown the epoch.
 */
export function cuttingProxy(target: string, { hold = false } = {}) {
  const streams: { lastEventId?: string; authorization?: string }[] = [];
  let cut = false;
  let held: http.ServerResponse | undefined;
  const server = http.createServer((req, res) => {
    const events = /^\/v1\/jobs\/[^/?]+\/events(\?|$)/.test(req.url!);
    if (events)
      streams.push({
        lastEventId: req.headers['last-event-id'] as string | undefined,
        authorization: req.headers.authorization,
      });
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      let seen = '';
      up.on('data', (chunk: Buffer) => {
        if (!events || cut || up.statusCode !== 200) return void res.write(chunk);
        seen += chunk.toString('utf8');
        const at = seen.indexOf('event: epoch');
        const endOfEvent = at < 0 ? -1 : seen.indexOf('\n\n', at);
        if (endOfEvent < 0) return;
        cut = true;
        up.destroy();
        // Dropped once the bytes are out (or when the test says, with `hold`), like a connection lost mid-stream.
        res.write(seen.slice(0, endOfEvent + 2), () => {
          if (hold) held = res;
          else res.destroy();
        });
      });
      up.on('end', () => res.end());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return {
    server,
    streams,
    /** With `hold`: drops the held first stream (once its epoch event has been written). */
    drop() {
      if (!held) throw new Error('no stream is held');
      held.destroy();
    },
    /** Listens on a free port; resolves to the proxy's base URL. */
    async listen() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
