import { apiKey, authFetch, unauthorized } from './api.js';
// A WhatWG EventSource over fetch() (the `eventsource` package, served from our node_modules):
// the browser's own EventSource cannot send an Authorization header.
import { EventSource } from './vendor/eventsource/index.js';

/** Stream ids are "<ms>-<seq>": compares them so a replayed or repeated event is drawn once. */
const after = (a, b) => {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am > bm : as > bs;
};

/**
 * Follows an SSE stream of the API (a job's or a sweep's events), replayed from the start, so a
 * reload loses nothing; a dropped connection resumes with Last-Event-ID, sending the API key
 * again each time. `handlers` maps an event name to a function of its parsed data; each event
 * reaches it once. The stream is closed after `end` (else EventSource would reconnect).
 * `onRefused(code)` hears an answer other than 200 (401 goes to the key form). Returns the source: close() it.
 */
export function followEvents(path, handlers, { onRefused = () => undefined } = {}) {
  let last = '0-0';
  let streamKey = '';
  const source = new EventSource(path, {
    fetch: (input, init) => {
      streamKey = apiKey.get();
      return authFetch(input, init);
    },
  });
  // An answer other than 200 ends the stream for good (as with the browser's EventSource); a dropped connection is retried.
  source.addEventListener('error', (event) => {
    if (source.readyState !== EventSource.CLOSED || !event.code) return;
    if (event.code === 401) unauthorized(streamKey);
    else onRefused(event.code);
  });
  for (const [name, fn] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      if (event.lastEventId && !after(event.lastEventId, last)) return;
      if (event.lastEventId) last = event.lastEventId;
      if (name === 'end') source.close();
      fn(JSON.parse(event.data));
    });
  }
  return source;
}
