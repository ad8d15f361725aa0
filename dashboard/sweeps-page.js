import { age, api, fmt, h, statusBadge } from './api.js';

const POLL_MS = 3000;
export const SWEEP_DONE = ['completed', 'failed', 'cancelled'];
export const TRIAL_DONE = ['completed', 'stopped', 'failed', 'cancelled'];
export const objectiveText = ({ metric, goal }) => `${metric} (${goal === 'max' ? 'higher' : 'lower'} is better)`;

/**
 * #/sweeps: the tenant's sweeps, polled. The list answers no trials, so each sweep's trial
 * counts come from its own record: fetched once for a finished sweep, on each poll while it runs.
 */
export async function sweepsPage(main, signal) {
  const tbody = h('tbody');
  const listError = h('p', { class: 'error', role: 'alert' });
  const counts = new Map(); // sweep id -> { done, total } of a finished sweep: it no longer changes
  main.append(
    h('h1', {}, 'Sweeps'),
    h(
      'section',
      { class: 'card' },
      h(
        'p',
        { class: 'muted' },
        'Hyperparameter searches: submit one with POST /v1/sweeps (see /docs); each trial is a job of its own.',
      ),
      h(
        'table',
        { id: 'sweeps-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'Status', 'Strategy', 'Objective', 'Trials done', 'Best', 'Age'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        tbody,
      ),
      listError,
    ),
  );

  const trialCounts = async (sweep) => {
    if (counts.has(sweep.id)) return counts.get(sweep.id);
    const { trials } = await api(`/v1/sweeps/${encodeURIComponent(sweep.id)}`);
    const count = { done: trials.filter((t) => TRIAL_DONE.includes(t.status)).length, total: trials.length };
    if (SWEEP_DONE.includes(sweep.status)) counts.set(sweep.id, count);
    return count;
  };
  const row = (sweep, count) =>
    h(
      'tr',
      { 'data-sweep': sweep.id },
      h(
        'td',
        {},
        h('a', { href: `#/sweeps/${sweep.id}` }, sweep.name),
        h('br'),
        h('small', { class: 'muted' }, sweep.id),
      ),
      h('td', {}, statusBadge(sweep.status)),
      h('td', {}, sweep.strategy.type),
      h('td', {}, objectiveText(sweep.objective)),
      h('td', { class: 'num' }, count ? `${count.done}/${count.total}` : '?'),
      h('td', { class: 'num' }, sweep.best ? `${fmt(sweep.best.objective)} (trial ${sweep.best.index})` : '–'),
      h('td', { title: sweep.createdAt }, age(sweep.createdAt)),
    );
  const refresh = async () => {
    try {
      const { items } = await api('/v1/sweeps?limit=50');
      const all = await Promise.all(items.map((s) => trialCounts(s).catch(() => null)));
      if (signal.aborted) return;
      tbody.replaceChildren(...items.map((s, i) => row(s, all[i])));
      if (items.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No sweeps yet.')));
      listError.textContent = '';
    } catch (err) {
      listError.textContent = `could not list sweeps: ${err.message}`;
    }
  };
  const timer = setInterval(refresh, POLL_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
  await refresh();
}
