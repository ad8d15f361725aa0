import { age, announce, api, h, statusBadge, TERMINAL } from './api.js';

const POLL_MS = 2000;

/** The jobs list (polled, so statuses, queue positions and progress update live), the submit form, and compare. */
export async function jobsPage(main, signal) {
  const selected = new Set();
  const error = h('p', { class: 'error', role: 'alert' });
  const editor = h('textarea', {
    id: 'job-request',
    rows: 16,
    spellcheck: 'false',
    'aria-describedby': 'job-request-help',
  });
  const submit = h('button', { type: 'submit', id: 'submit-job' }, 'Submit job');
  const form = h(
    'form',
    { 'aria-labelledby': 'submit-title' },
    h('h2', { id: 'submit-title' }, 'Submit a job'),
    h(
      'label',
      { for: 'job-request', id: 'job-request-help', class: 'muted' },
      'Job request (JSON): the MNIST recipe to start from. See /docs for every field.',
    ),
    editor,
    h('p', {}, submit),
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    let body;
    try {
      body = JSON.parse(editor.value);
    } catch (err) {
      error.textContent = `not valid JSON: ${err.message}`;
      return;
    }
    submit.disabled = true;
    try {
      const job = await api('/v1/jobs', { method: 'POST', body });
      announce(`job ${job.id} submitted`);
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });

  const tbody = h('tbody');
  const compare = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      id: 'compare',
      disabled: true,
      onclick: () => (location.hash = `#/compare/${[...selected].join(',')}`),
    },
    'Compare selected',
  );
  const listError = h('p', { class: 'error', role: 'alert' });
  main.append(
    h('h1', {}, 'Jobs'),
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'row', style: { justifyContent: 'space-between' } }, h('h2', {}, 'Recent jobs'), compare),
      h(
        'table',
        { id: 'jobs-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Compare', 'Name', 'Status', 'Queue', 'Progress', 'Age', ''].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        tbody,
      ),
      listError,
    ),
    h('section', { class: 'card' }, form),
  );

  const render = (jobs) => {
    // Rebuilt on each poll: keep keyboard focus on the same control.
    const focused = document.activeElement?.dataset?.key;
    tbody.replaceChildren(...jobs.map((job) => row(job)));
    if (jobs.length === 0)
      tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No jobs yet: submit one below.')));
    if (focused) tbody.querySelector(`[data-key="${focused}"]`)?.focus();
    compare.disabled = selected.size < 1;
  };
  const row = (job) => {
    const box = h('input', {
      type: 'checkbox',
      'data-key': `select-${job.id}`,
      'aria-label': `compare ${job.name} (${job.id})`,
      checked: selected.has(job.id),
    });
    box.addEventListener('change', () => {
      box.checked ? selected.add(job.id) : selected.delete(job.id);
      compare.disabled = selected.size < 1;
    });
    const { epoch, epochs } = job.progress;
    return h(
      'tr',
      { 'data-job': job.id },
      h('td', {}, box),
      h(
        'td',
        {},
        h('a', { href: `#/jobs/${job.id}`, 'data-key': `link-${job.id}` }, job.name),
        h('br'),
        h('small', { class: 'muted' }, job.id),
      ),
      h('td', {}, statusBadge(job.status)),
      h('td', { class: 'num' }, job.queuePosition ?? ''),
      h(
        'td',
        {},
        h('progress', { max: epochs, value: epoch, 'aria-label': `epoch ${epoch} of ${epochs}` }),
        ` ${epoch}/${epochs}`,
      ),
      h('td', { title: job.createdAt }, age(job.createdAt)),
      h(
        'td',
        {},
        TERMINAL.includes(job.status)
          ? ''
          : h(
              'button',
              { type: 'button', class: 'danger', 'data-key': `cancel-${job.id}`, onclick: () => cancel(job) },
              'Cancel',
            ),
      ),
    );
  };
  const cancel = async (job) => {
    try {
      await api(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
      announce(`cancel requested for ${job.name}`);
    } catch (err) {
      listError.textContent = err.message;
    }
    refresh();
  };
  const refresh = async () => {
    try {
      const { items } = await api('/v1/jobs?limit=50');
      if (!signal.aborted) render(items);
      listError.textContent = '';
    } catch (err) {
      listError.textContent = `could not list jobs: ${err.message}`;
    }
  };
  const timer = setInterval(refresh, POLL_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
  await refresh();
  // Prefilled with the MNIST recipe, unless someone typed first.
  const example = await api('examples/mnist.json').catch(() => ({}));
  if (!editor.value) editor.value = JSON.stringify(example, null, 2);
  editor.dataset.ready = 'true';
}
