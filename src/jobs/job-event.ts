/** One entry of a job's event stream: the stream entry's id (the SSE id), the event name, its data. */
export interface JobEvent {
  id: string;
  event: string;
  data: unknown;
}

/** Stream entries (`XRANGE`/`XREAD` replies) as events. */
export function parseEntries(entries: [string, string[]][]): JobEvent[] {
  return entries.map(([id, fields]) => {
    const map: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) map[fields[i]] = fields[i + 1];
    return { id, event: map.event, data: JSON.parse(map.data ?? 'null') };
  });
}
