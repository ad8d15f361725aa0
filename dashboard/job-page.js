import { announce, api, fmt, h, statusBadge, TERMINAL } from './api.js';
import { addEpochMetrics, MetricCharts, trainingFirst } from './charts.js';
import { followEvents } from './stream.js';

/**
 * One job: live curves from its SSE stream (replayed from the start on each load, so a reload
 * or a dropped connection loses nothing: EventSource resumes with Last-Event-ID, sending the
 * API key again on each connection), per-batch
 * loss, status timeline, evaluation with the confusion matrix as a heat map, model summary.
 */
export async function jobPage(main, id, signal) {
  let job = await api(`/v1/jobs/${encodeURIComponent(id)}`);
  if (signal.aborted) return;

  const badge = h('span', { id: 'job-status' }, statusBadge(job.status));
  const cancel = h(
    'button',
    { type: 'button', class: 'danger', id: 'cancel-job', onclick: () => doCancel() },
    'Cancel job',
  );
  const progress = h('progress', {
    id: 'job-progress',
    max: job.progress.epochs,
    value: 0,
    'aria-label': 'epochs done',
  });
  const progressText = h('span', { id: 'job-progress-text' });
  const facts = h('dl', { class: 'row', id: 'job-facts' });
  const message = h('p', { class: 'error', role: 'alert', id: 'job-error' });
  const chartGrid = h('div', { class: 'grid', id: 'epoch-charts', 'data-points': '0' });
  const batchBox = h('div', { id: 'batch-chart', hidden: true });
  const epochHead = h('tr');
  const epochBody = h('tbody');
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  const evaluation = h('div', { id: 'evaluation' }, h('p', { class: 'muted' }, 'Not evaluated yet.'));

  main.append(
    h('div', { class: 'row', style: { alignItems: 'center' } }, h('h1', {}, job.name), badge, cancel),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'progress-title' },
      h('h2', { id: 'progress-title' }, 'Progress'),
      h('p', {}, progress, ' ', progressText),
      facts,
      message,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'curves-title' },
      h('h2', { id: 'curves-title' }, 'Metrics per epoch'),
      h('p', { class: 'muted' }, 'Solid: training; dashed: validation. A widening gap between them is overfitting.'),
      chartGrid,
      batchBox,
    ),
    h(
      'div',
      { class: 'grid' },
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'epochs-title' },
        h('h2', { id: 'epochs-title' }, 'Epochs'),
        h('table', { id: 'epoch-table' }, h('thead', {}, epochHead), epochBody),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'timeline-title' },
        h('h2', { id: 'timeline-title' }, 'Status timeline'),
        timeline,
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'evaluation-title' },
      h('h2', { id: 'evaluation-title' }, 'Evaluation on the test split'),
      evaluation,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'summary-title' },
      h('h2', { id: 'summary-title' }, 'Model summary'),
      summaryTable(job.summary),
    ),
    h(
      'details',
      { class: 'card' },
      h('summary', {}, 'Job request'),
      h('pre', {}, JSON.stringify(job.request ?? {}, null, 2)),
    ),
  );

  const charts = new MetricCharts(chartGrid);
  const batchCharts = new MetricCharts(batchBox, { xLabel: 'epoch (per batch)' });
  const metricColumns = [];
  let epochsDone = 0;

  const renderFacts = () => {
    const items = [
      ['Job', job.id],
      ['Backend', job.backend ?? '—'],
      ['Queue position', job.queuePosition ?? '—'],
      ['Created', new Date(job.createdAt).toLocaleString()],
      ['Finished', job.finishedAt ? new Date(job.finishedAt).toLocaleString() : '—'],
    ];
    facts.replaceChildren(
      ...items.map(([k, v]) =>
        h('div', {}, h('dt', { class: 'muted' }, k), h('dd', { style: { margin: 0 } }, String(v))),
      ),
    );
    if (job.modelId)
      facts.append(
        h(
          'div',
          {},
          h('dt', { class: 'muted' }, 'Model'),
          h(
            'dd',
            { style: { margin: 0 } },
            h('a', { href: `#/models/${job.modelId}`, id: 'model-link' }, `try model ${job.modelId}`),
          ),
        ),
      );
    message.textContent = job.error ? `${job.error.code}: ${job.error.message}` : '';
    cancel.hidden = TERMINAL.includes(job.status);
    badge.replaceChildren(statusBadge(job.status));
  };
  const setProgress = (epoch, epochs, batch) => {
    progress.max = epochs;
    progress.value = epoch;
    progressText.textContent = `epoch ${epoch} of ${epochs}${batch ? `, batch ${batch.batch}/${batch.batches} of epoch ${batch.epoch}` : ''}`;
  };
  renderFacts();
  setProgress(0, job.progress.epochs);
  // The stream has no event for a queue moving up: poll the position while the job waits.
  const queueTimer = setInterval(async () => {
    if (job.status !== 'queued') return;
    const fresh = await api(`/v1/jobs/${encodeURIComponent(id)}`).catch(() => null);
    if (fresh && job.status === 'queued') {
      job = { ...job, queuePosition: fresh.queuePosition };
      renderFacts();
    }
  }, 2000);

  const onEpoch = ({ epoch, epochs, metrics, elapsedMs }) => {
    addEpochMetrics(charts, epoch, metrics);
    epochsDone = Math.max(epochsDone, epoch);
    chartGrid.dataset.points = String(epochsDone);
    for (const [key] of trainingFirst(Object.entries(metrics)))
      if (!metricColumns.includes(key)) metricColumns.push(key);
    epochHead.replaceChildren(...['Epoch', ...metricColumns, 'Time'].map((t) => h('th', { scope: 'col' }, t)));
    epochBody.append(
      h(
        'tr',
        { 'data-epoch': epoch },
        h('th', { scope: 'row' }, `${epoch}/${epochs}`),
        metricColumns.map((k) => h('td', { class: 'num' }, fmt(metrics[k]))),
        h('td', { class: 'num' }, elapsedMs ? `${(elapsedMs / 1000).toFixed(1)} s` : ''),
      ),
    );
    setProgress(epoch, epochs);
  };
  const onBatch = (b) => {
    batchBox.hidden = false;
    if (typeof b.metrics.loss === 'number')
      batchCharts.add('loss per batch', 'training', b.epoch - 1 + b.batch / b.batches, b.metrics.loss, {
        pointRadius: 0,
      });
    setProgress(epochsDone, job.progress.epochs, b);
  };
  const onStatus = ({ status, at }) => {
    timeline.append(
      h('li', {}, statusBadge(status), ' ', h('time', { datetime: at }, new Date(at).toLocaleTimeString())),
    );
    job = { ...job, status, ...(status === 'queued' ? {} : { queuePosition: null }) };
    renderFacts();
    announce(`job ${status}`);
  };
  const refetch = async () => {
    job = await api(`/v1/jobs/${encodeURIComponent(id)}`);
    if (job.evaluation) renderEvaluation(evaluation, job.evaluation);
    renderFacts();
  };

  const source = followEvents(
    `/v1/jobs/${encodeURIComponent(id)}/events`,
    {
      status: onStatus,
      epoch: onEpoch,
      batch: onBatch,
      evaluation: ({ metrics }) => renderEvaluation(evaluation, metrics),
      end: () => {
        main.dataset.ended = 'true';
        refetch();
      },
    },
    { onRefused: (code) => (message.textContent = `live updates stopped: the event stream answered HTTP ${code}`) },
  );
  signal.addEventListener('abort', () => {
    clearInterval(queueTimer);
    source.close();
    charts.destroy();
    batchCharts.destroy();
  });

  async function doCancel() {
    try {
      const result = await api(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
      announce(`cancel: ${result.status ?? 'requested'}`);
    } catch (err) {
      message.textContent = err.message;
    }
  }
}

function summaryTable(summary) {
  if (!summary) return h('p', { class: 'muted' }, 'No summary.');
  const shape = (s) => `(${s.map((d) => (d === null ? 'None' : d)).join(', ')})`;
  return h(
    'div',
    {},
    h(
      'table',
      { id: 'summary-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Layer (type)', 'Output shape', 'Param #', 'Trainable'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        summary.layers.map((l) =>
          h(
            'tr',
            {},
            h('td', {}, `${l.name} (${l.type})`),
            h('td', {}, shape(l.outputShape)),
            h('td', { class: 'num' }, l.params.toLocaleString()),
            h('td', {}, l.trainable ? 'yes' : 'no'),
          ),
        ),
      ),
    ),
    h(
      'p',
      {},
      `Total params: ${summary.totalParams.toLocaleString()} · trainable: ${summary.trainableParams.toLocaleString()}`,
    ),
  );
}

/** Scalar metrics as a table; a classifier's confusion matrix as a heat map (row-normalised), and per-class precision/recall/F1. */
export function renderEvaluation(container, ev) {
  const scalars = Object.entries(ev).filter(([, v]) => typeof v === 'number');
  const parts = [
    h(
      'table',
      { class: 'metrics' },
      h(
        'tbody',
        {},
        scalars.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'num' }, fmt(v)))),
      ),
    ),
  ];
  if (ev.confusionMatrix && ev.classes) {
    const classes = ev.classes;
    const cells = ev.confusionMatrix.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      return h(
        'tr',
        {},
        h('th', { scope: 'row' }, classes[i]),
        row.map((n, j) => {
          const share = n / total;
          return h(
            'td',
            {
              title: `true ${classes[i]}, predicted ${classes[j]}: ${n} (${(share * 100).toFixed(0)}% of ${classes[i]})`,
              style: { background: `rgba(36, 88, 198, ${share.toFixed(3)})`, color: share > 0.5 ? '#fff' : 'inherit' },
            },
            n,
          );
        }),
      );
    });
    parts.push(
      h(
        'table',
        { class: 'heatmap', id: 'confusion-matrix', style: { width: 'auto', marginTop: '1rem' } },
        h(
          'caption',
          { style: { textAlign: 'left' } },
          'Confusion matrix: rows are the true class, columns the predicted class; shade = share of the row',
        ),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, 'true \\ predicted'),
            classes.map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        h('tbody', {}, cells),
      ),
    );
  }
  if (ev.perClass) {
    parts.push(
      h(
        'table',
        { style: { marginTop: '1rem', width: 'auto' } },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Class', 'Precision', 'Recall', 'F1', 'Support'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          ev.perClass.map((c) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, c.class),
              [c.precision, c.recall, c.f1, c.support].map((v) => h('td', { class: 'num' }, fmt(v))),
            ),
          ),
        ),
      ),
    );
  }
  container.replaceChildren(h('div', { class: 'row' }, parts));
}
