import { api, h, statusBadge, TERMINAL } from './api.js';
import { baseMetric, isValidation, MetricCharts } from './charts.js';

const POLL_MS = 3000;

/** Several jobs' curves overlaid, one colour per job (dashed = validation); polled while any still runs. */
export async function comparePage(main, ids, signal) {
  const legend = h('ul', { id: 'compare-jobs' });
  const grid = h('div', { class: 'grid', id: 'compare-charts' });
  main.append(h('h1', {}, 'Compare jobs'), h('section', { class: 'card' }, legend, grid));
  if (ids.length === 0) {
    legend.append(h('li', {}, 'No jobs chosen: tick some in the ', h('a', { href: '#/' }, 'jobs list'), '.'));
    return;
  }
  const charts = new MetricCharts(grid);
  signal.addEventListener('abort', () => charts.destroy());
  const draw = async () => {
    const jobs = await Promise.all(ids.map((id) => api(`/v1/jobs/${encodeURIComponent(id)}`)));
    if (signal.aborted) return jobs;
    legend.replaceChildren(
      ...jobs.map((job) =>
        h(
          'li',
          {},
          h('a', { href: `#/jobs/${job.id}` }, job.name),
          ` (${job.id.slice(0, 8)}) `,
          statusBadge(job.status),
        ),
      ),
    );
    for (const job of jobs) {
      const who = `${job.name} ${job.id.slice(0, 6)}`;
      for (const [key, values] of Object.entries(job.history ?? {})) {
        const validation = isValidation(key);
        charts.set(
          baseMetric(key),
          `${who} ${validation ? 'validation' : 'training'}`,
          values.map((y, i) => ({ x: i + 1, y })),
          { dashed: validation, colorKey: job.id },
        );
      }
    }
    return jobs;
  };
  let jobs = await draw();
  const timer = setInterval(async () => {
    if (jobs.every((j) => TERMINAL.includes(j.status))) return clearInterval(timer);
    jobs = await draw().catch(() => jobs);
  }, POLL_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
}
