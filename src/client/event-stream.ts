import { createParser, type EventSourceMessage } from 'eventsource-parser';

export type { EventSourceMessage };

/**
 * The messages of one text/event-stream body as they arrive, until the body ends (one
 * connection: reconnecting is the caller's business). Comments (the server's heartbeats) go to
 * `onComment`. Leaving the loop early cancels the body.
 */
export async function* eventStream(
  body: ReadableStream<Uint8Array>,
  onComment?: (comment: string) => void,
): AsyncGenerator<EventSourceMessage> {
  const parsed: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => parsed.push(message), onComment });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    while (parsed.length > 0) yield parsed.shift()!;
  }
}
