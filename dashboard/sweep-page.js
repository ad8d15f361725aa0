import { announce, api, fmt, h, statusBadge } from './api.js';
import { MetricCharts } from './charts.js';
import { followEvents } from './stream.js';
import { objectiveText, SWEEP_DONE, TRIAL_DONE } from './sweeps-page.js';

const enc = encodeURIComponent;
const label = (index) => `trial ${index}`;
// Ended early: drawn dashed (stopped by the search) or dotted (failed, cancelled) and faded, so the
// curves that ran their course stand out; the best is drawn thick.
const DASH = { stopped: [6, 4], failed: [2, 3], cancelled: [2, 3] };
const shortName = (pointer) => pointer.split('/').filter(Boolean).at(-1) ?? pointer;
const value = (v) => (typeof v === 'number' ? fmt(v) : JSON.stringify(v));
const better = (goal) => (a, b) => (goal === 'max' ? a > b : a < b);

/**
 * #/sweeps/<id>: every trial's objective per epoch live from the sweep's SSE stream (replayed
 * from the start, so a reload loses nothing), each numeric parameter against the objective,
 * the trials table, the best trial and its registered version, Cancel while it runs.
 */
export async function sweepPage(main, id, signal) {
  let sweep = await api(`/v1/sweeps/${enc(id)}`);
  if (signal.aborted) return;
  const { metric, goal } = sweep.objective;
  const isBetter = better(goal);
  // What the page knows of each trial: the record, then the stream's news; `curve` is its objective per epoch.
  const trials = sweep.trials.map((t) => ({ ...t, curve: [] }));
  const pointers = Object.keys(trials[0]?.parameters ?? {});

  const badge = h('span', { id: 'sweep-status' });
  const cancel = h(
    'button',
    { type: 'button', class: 'danger', id: 'cancel-sweep', onclick: () => doCancel() },
    'Cancel sweep',
  );
  const facts = h('dl', { class: 'row', id: 'sweep-facts' });
  const message = h('p', { class: 'error', role: 'alert', id: 'sweep-error' });
  const bestBox = h('div', { id: 'sweep-best' });
  const curvesBox = h('div', { id: 'trial-curves' });
  const paramsBox = h('div', { class: 'grid', id: 'parameter-charts' });
  const tbody = h('tbody');
  main.append(
    h('div', { class: 'row', style: { alignItems: 'center' } }, h('h1', {}, sweep.name), badge, cancel),
    h('section', { class: 'card' }, facts, message),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'best-title' },
      h('h2', { id: 'best-title' }, 'Best trial'),
      bestBox,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'curves-title' },
      h('h2', { id: 'curves-title' }, `${metric} per epoch, one line per trial`),
      h(
        'p',
        { class: 'muted' },
        'Thick: the best trial. Dashed: stopped early by the search; dotted: failed or cancelled.',
      ),
      curvesBox,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'params-title' },
      h('h2', { id: 'params-title' }, `Parameters against ${metric}`),
      paramsBox,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'trials-title' },
      h('h2', { id: 'trials-title' }, 'Trials'),
      h(
        'table',
        { id: 'trials-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            [
              'Trial',
              'Status',
              ...pointers.map((p) => h('span', { title: p }, shortName(p))),
              metric,
              'Epochs',
              'Job',
              'Model',
            ].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        tbody,
      ),
    ),
  );

  const curves = new MetricCharts(curvesBox, { series: 'one line per trial' });
  const scatters = pointers.map((pointer) => scatterFor(pointer, trials, metric, paramsBox, curves.colors));
  if (scatters.every((s) => !s))
    paramsBox.append(h('p', { class: 'muted' }, 'No numeric parameters: their values are in the table below.'));

  const objectiveOf = (t) =>
    t.objective ??
    bestOf(
      t.curve.map((p) => p.y),
      isBetter,
    );
  const bestIndex = () => sweep.best?.index ?? null;

  const renderFacts = () => {
    const items = [
      ['Sweep', sweep.id],
      ['Strategy', sweep.strategy.type],
      ['Objective', objectiveText(sweep.objective)],
      ['Trials done', `${trials.filter((t) => TRIAL_DONE.includes(t.status)).length}/${trials.length}`],
      ['Parallelism', sweep.parallelism],
      ['Created', new Date(sweep.createdAt).toLocaleString()],
      ['Finished', sweep.finishedAt ? new Date(sweep.finishedAt).toLocaleString() : '—'],
    ];
    facts.replaceChildren(
      ...items.map(([k, v]) =>
        h('div', {}, h('dt', { class: 'muted' }, k), h('dd', { style: { margin: 0 } }, String(v))),
      ),
    );
    badge.replaceChildren(statusBadge(sweep.status));
    cancel.hidden = SWEEP_DONE.includes(sweep.status) || sweep.status === 'cancelling';
    message.textContent = sweep.registrationError
      ? `registering the best model failed: ${sweep.registrationError.code}: ${sweep.registrationError.message}`
      : '';
  };
  const renderBest = () => {
    const best = sweep.best;
    if (!best) {
      bestBox.replaceChildren(h('p', { class: 'muted' }, 'No finished trial yet.'));
      return;
    }
    const trial = trials[best.index];
    const modelId = best.modelId ?? trial?.modelId;
    bestBox.replaceChildren(
      h(
        'p',
        { 'data-trial': best.index },
        h('strong', {}, `Trial ${best.index}`),
        `: ${metric} ${fmt(best.objective)} with `,
        pointers.map((p, i) => [i ? ', ' : '', h('code', {}, shortName(p)), ` = ${value(trial?.parameters[p])}`]),
        '. ',
        modelId ? h('a', { href: `#/models/${modelId}`, id: 'best-model' }, `model ${modelId}`) : '',
      ),
      sweep.registered
        ? h(
            'p',
            { id: 'best-registered' },
            'Registered as ',
            h('a', { href: `#/registry/${enc(sweep.registered.name)}` }, sweep.registered.name),
            ` version ${sweep.registered.version}.`,
          )
        : '',
    );
  };
  const renderTrials = () => {
    const bestAt = bestIndex();
    tbody.replaceChildren(
      ...trials.map((t) => {
        const isBest = t.index === bestAt;
        return h(
          'tr',
          { 'data-trial': t.index, 'data-status': t.status, class: isBest ? 'best' : undefined },
          h(
            'th',
            { scope: 'row' },
            h('span', { class: 'swatch', style: { background: curves.colors.get(label(t.index)) ?? 'transparent' } }),
            ` ${t.index}`,
            isBest ? h('span', { class: 'best-mark', title: 'best trial' }, ' ★ best') : '',
          ),
          h('td', {}, statusBadge(t.status)),
          pointers.map((p) => h('td', { class: 'num' }, value(t.parameters[p]))),
          h('td', { class: 'num' }, fmt(objectiveOf(t) ?? '')),
          h('td', { class: 'num' }, String(t.epochs)),
          h('td', {}, t.jobId ? h('a', { href: `#/jobs/${t.jobId}` }, 'job') : ''),
          h('td', {}, t.modelId ? h('a', { href: `#/models/${t.modelId}` }, 'model') : ''),
        );
      }),
    );
  };
  const styleCurves = () => {
    const bestAt = bestIndex();
    curvesBox.dataset.best = bestAt ?? '';
    for (const t of trials) {
      if (t.curve.length === 0) continue;
      const dataset = curves.series(metric, label(t.index));
      const color = curves.colors.get(label(t.index));
      const early = DASH[t.status];
      dataset.borderWidth = t.index === bestAt ? 4 : 1.5;
      dataset.borderDash = early ?? [];
      dataset.borderColor = early ? `${color}88` : color;
    }
    if (curves.charts.has(metric)) curves.refresh(metric);
  };
  const render = () => {
    renderFacts();
    renderBest();
    styleCurves();
    for (const s of scatters) s?.draw(objectiveOf, bestIndex());
    renderTrials();
  };
  // A replay is a burst of events: draw once per frame, not once per event.
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (!signal.aborted) render();
    });
  };
  const refetch = async () => {
    const fresh = await api(`/v1/sweeps/${enc(id)}`).catch(() => null);
    if (!fresh || signal.aborted) return;
    sweep = fresh;
    for (const t of fresh.trials) Object.assign(trials[t.index], t);
    schedule();
  };

  const source = followEvents(
    `/v1/sweeps/${enc(id)}/events`,
    {
      trial: ({ index, status, parameters, jobId, objective }) => {
        Object.assign(trials[index], { status, parameters, jobId }, objective === undefined ? {} : { objective });
        // The stream has no model id or timestamps: the record has them once a trial ends.
        if (TRIAL_DONE.includes(status)) refetch();
        schedule();
      },
      epoch: ({ index, epoch, metrics }) => {
        const t = trials[index];
        t.epochs = Math.max(t.epochs, epoch);
        if (typeof metrics[metric] !== 'number') return;
        t.curve.push({ x: epoch, y: metrics[metric] });
        curves.add(metric, label(index), epoch, metrics[metric], { pointRadius: 2 });
        schedule();
      },
      best: ({ index, objective }) => {
        sweep = { ...sweep, best: { ...sweep.best, index, objective, modelId: trials[index].modelId } };
        announce(`best so far: trial ${index}, ${metric} ${fmt(objective)}`);
        schedule();
      },
      end: ({ status, best }) => {
        sweep = { ...sweep, status, best };
        main.dataset.ended = 'true';
        announce(`sweep ${status}`);
        refetch();
      },
    },
    { onRefused: (code) => (message.textContent = `live updates stopped: the event stream answered HTTP ${code}`) },
  );
  signal.addEventListener('abort', () => {
    source.close();
    curves.destroy();
    for (const s of scatters) s?.charts.destroy();
  });
  render();

  async function doCancel() {
    try {
      sweep = await api(`/v1/sweeps/${enc(id)}/cancel`, { method: 'POST' });
      announce(`sweep ${sweep.status}`);
      schedule();
    } catch (err) {
      message.textContent = err.message;
    }
  }
}

const bestOf = (values, isBetter) => values.reduce((a, b) => (a === null || isBetter(b, a) ? b : a), null);

/**
 * A scatter of one numeric parameter against the objective, one point per trial in its curve's
 * colour; the x axis is logarithmic when the values span more than two decades. Null for a parameter
 * with a value that is not a number (categorical: the table shows it).
 */
function scatterFor(pointer, trials, metric, container, colors) {
  const xs = trials.map((t) => t.parameters[pointer]);
  if (xs.length === 0 || !xs.every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
  const min = Math.min(...xs);
  const log = min > 0 && Math.max(...xs) / min > 100;
  const box = h('div', { 'data-parameter': pointer });
  container.append(box);
  const charts = new MetricCharts(box, {
    xLabel: `${pointer}${log ? ' (log scale)' : ''}`,
    xType: log ? 'logarithmic' : 'linear',
    lines: false,
    wholeX: false,
    series: 'one point per trial',
  });
  charts.colors = colors; // the same colour per trial as on the curves
  const { chart, figure } = charts.chart(metric);
  chart.options.plugins.legend.display = false;
  figure.querySelector('figcaption').replaceChildren(h('strong', {}, shortName(pointer)), ` against ${metric}`);
  return {
    charts,
    draw(objectiveOf, bestAt) {
      for (const t of trials) {
        const y = objectiveOf(t);
        if (y === null || y === undefined) continue;
        const dataset = charts.series(metric, label(t.index));
        dataset.data = [{ x: t.parameters[pointer], y }];
        dataset.pointRadius = t.index === bestAt ? 8 : 4;
        dataset.pointStyle = DASH[t.status] ? 'crossRot' : 'circle';
      }
      charts.refresh(metric);
    },
  };
}
