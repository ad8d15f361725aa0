/** Keras's way of printing metrics: "loss: 0.2345 - acc: 0.9312 - val_loss: ...", training before validation. */
export function formatMetrics(metrics: Record<string, number>): string {
  const entries = Object.entries(metrics).sort(
    ([a], [b]) => Number(a.startsWith('val_')) - Number(b.startsWith('val_')),
  );
  return entries.map(([k, v]) => `${k}: ${formatNumber(v)}`).join(' - ');
}

export function formatNumber(v: unknown): string {
  if (typeof v !== 'number') return String(v ?? '');
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

/** Columns padded to their widest cell. */
export function table(head: string[], rows: unknown[][]): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

export function age(iso: string | null | undefined): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

interface Summary {
  layers: { name: string; type: string; outputShape: (number | null)[]; params: number }[];
  totalParams: number;
  trainableParams: number;
}

/** model.summary() the way Keras prints it. */
export function summaryText(summary: Summary): string {
  const shape = (s: (number | null)[]) => `(${s.map((d) => (d === null ? 'None' : d)).join(', ')})`;
  return [
    table(
      ['Layer (type)', 'Output Shape', 'Param #'],
      summary.layers.map((l) => [`${l.name} (${l.type})`, shape(l.outputShape), l.params]),
    ),
    `Total params: ${summary.totalParams.toLocaleString('en-US')}`,
    `Trainable params: ${summary.trainableParams.toLocaleString('en-US')}`,
  ].join('\n');
}
