import { age, api, fmt, h } from './api.js';
import { drawingPad, mnistPixels } from './digit.js';
import { renderEvaluation } from './job-page.js';

export async function modelsPage(main, signal) {
  const { items } = await api('/v1/models?limit=50');
  if (signal.aborted) return;
  const metric = (m) =>
    Object.entries(m.evaluation ?? m.metrics ?? {})
      .filter(([, v]) => typeof v === 'number')
      .slice(0, 3)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ');
  main.append(
    h('h1', {}, 'Models'),
    h(
      'section',
      { class: 'card' },
      h(
        'table',
        { id: 'models-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'Created', 'Input', 'Evaluation', 'Job'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          items.length === 0
            ? h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No models yet.'))
            : items.map((m) =>
                h(
                  'tr',
                  {},
                  h(
                    'td',
                    {},
                    h('a', { href: `#/models/${m.id}` }, m.name),
                    h('br'),
                    h('small', { class: 'muted' }, m.id),
                  ),
                  h('td', { title: m.createdAt }, age(m.createdAt)),
                  h('td', {}, `[${m.transforms.featureShape.join(', ')}]`),
                  h('td', {}, metric(m)),
                  h('td', {}, m.jobId ? h('a', { href: `#/jobs/${m.jobId}` }, 'job') : 'imported'),
                ),
              ),
        ),
      ),
    ),
  );
}

const isImage28 = (shape) =>
  (shape.length === 2 && shape[0] === 28 && shape[1] === 28) || (shape.length === 1 && shape[0] === 784);

/** Try a model: a digit pad for 28x28 inputs, and a JSON box of instances for any model. */
export async function modelPage(main, id, signal) {
  const model = await api(`/v1/models/${encodeURIComponent(id)}`);
  if (signal.aborted) return;
  const shape = model.transforms.featureShape;
  const evaluation = h('div');
  if (model.evaluation) renderEvaluation(evaluation, model.evaluation);
  main.append(
    h('h1', {}, `Model ${model.name}`),
    h(
      'p',
      { class: 'muted' },
      `${model.id} · `,
      model.jobId ? h('a', { href: `#/jobs/${model.jobId}` }, `from job ${model.jobId}`) : 'imported',
      model.parent ? ` · fine-tuned from ` : '',
      model.parent ? h('a', { href: `#/models/${model.parent.modelId}` }, model.parent.modelId) : '',
      ` · input [${shape.join(', ')}] · ${model.bytes.toLocaleString()} bytes of weights`,
    ),
  );
  if (isImage28(shape)) main.append(digitSection(model, shape));
  if (model.transforms.text) main.append(textSection(model));
  if (model.transforms.image) main.append(imageSection(model, signal));
  main.append(jsonSection(model, shape), h('section', { class: 'card' }, h('h2', {}, 'Evaluation'), evaluation));
}

function digitSection(model, shape) {
  const pad = h('canvas', {
    class: 'digit',
    id: 'digit-pad',
    width: 280,
    height: 280,
    'aria-label': 'drawing pad: draw a digit with the mouse, pen or finger',
  });
  const preview = h('canvas', {
    id: 'digit-preview',
    width: 28,
    height: 28,
    style: { width: '112px', height: '112px', imageRendering: 'pixelated', background: '#000' },
    'aria-label': 'what the model sees: 28 by 28 pixels',
  });
  const result = h(
    'div',
    { id: 'digit-result', 'aria-live': 'polite' },
    h('p', { class: 'muted' }, 'Draw a digit (white on black, as in MNIST).'),
  );
  let pending = 0;
  const predict = async () => {
    const rows = mnistPixels(pad, preview);
    if (!rows) return;
    const instance = shape.length === 1 ? rows.flat() : rows;
    const ticket = ++pending;
    try {
      const answer = await api(`/v1/models/${model.id}/predict`, { method: 'POST', body: { instances: [instance] } });
      if (ticket === pending) result.replaceChildren(probabilities(model, answer));
    } catch (err) {
      result.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  };
  const { clear } = drawingPad(pad, predict);
  const clearAll = () => {
    clear();
    preview.getContext('2d').clearRect(0, 0, 28, 28);
    result.replaceChildren(h('p', { class: 'muted' }, 'Draw a digit (white on black, as in MNIST).'));
  };
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'digit-title' },
    h('h2', { id: 'digit-title' }, 'Draw a digit'),
    h(
      'div',
      { class: 'row' },
      h(
        'div',
        {},
        pad,
        h(
          'p',
          {},
          h('button', { type: 'button', id: 'digit-clear', class: 'secondary', onclick: clearAll }, 'Clear'),
          ' ',
          h('button', { type: 'button', id: 'digit-predict', onclick: predict }, 'Predict'),
        ),
      ),
      h('div', {}, h('p', { class: 'muted' }, 'Model input'), preview),
      h('div', { style: { flex: '1', minWidth: '16rem' } }, result),
    ),
  );
}

/** An image file's bytes as base64, in slices (a spread of a whole large image would overflow the call stack). */
async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** A model trained on image folders: drop, paste or choose an image; it is sent as {"b64": …} and decoded as in training. */
function imageSection(model, signal) {
  const spec = model.transforms.image;
  const preview = h('img', { id: 'image-preview', alt: '', style: { maxWidth: '160px', maxHeight: '160px' } });
  const result = h('div', { id: 'image-result', 'aria-live': 'polite' });
  const chooser = h('input', { type: 'file', id: 'image-file', accept: 'image/png,image/jpeg,image/webp,image/gif' });
  let shown;
  const predict = async (file) => {
    if (!file?.type.startsWith('image/')) return;
    if (shown) URL.revokeObjectURL(shown);
    shown = URL.createObjectURL(file);
    preview.src = shown;
    preview.alt = `the image sent: ${file.name || 'pasted image'}`;
    try {
      const instance = { b64: await base64Of(file) };
      const answer = await api(`/v1/models/${model.id}/predict`, { method: 'POST', body: { instances: [instance] } });
      result.replaceChildren(probabilities(model, answer));
    } catch (err) {
      result.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  };
  const zone = h(
    'div',
    {
      id: 'image-drop',
      class: 'card',
      tabindex: '0',
      style: { border: '2px dashed #9aa5c0', padding: '1.5rem', textAlign: 'center' },
      ondragover: (event) => event.preventDefault(),
      ondrop: (event) => {
        event.preventDefault();
        predict(event.dataTransfer?.files?.[0]);
      },
    },
    'Drop an image here, or paste one (Ctrl+V), or ',
    h('label', { for: 'image-file' }, 'choose a file'),
    ' ',
    chooser,
  );
  chooser.addEventListener('change', () => predict(chooser.files?.[0]));
  document.addEventListener(
    'paste',
    (event) => {
      const item = [...(event.clipboardData?.items ?? [])].find(
        (i) => i.kind === 'file' && i.type.startsWith('image/'),
      );
      if (item) predict(item.getAsFile());
    },
    { signal },
  );
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'image-title' },
    h('h2', { id: 'image-title' }, 'Image'),
    h(
      'p',
      { class: 'muted', id: 'image-spec' },
      `Resized to ${spec.size[0]}×${spec.size[1]}${spec.cropToAspectRatio ? ' (centre cropped to its aspect ratio)' : ''}, ${spec.colorMode}, as in training.`,
    ),
    zone,
    h('div', { class: 'row' }, preview, h('div', { style: { flex: '1', minWidth: '16rem' } }, result)),
  );
}

/** A text model (data.text): its vectorization and vocabulary, and a sentence to predict. */
function textSection(model) {
  const text = model.transforms.text;
  const others = model.transforms.features ?? [];
  const box = h('input', { id: 'text-input', type: 'text', value: 'a great film', style: { width: '100%' } });
  const result = h('div', { id: 'text-result', 'aria-live': 'polite' });
  const run = async (event) => {
    event.preventDefault();
    // Other feature columns are sent as 0: the JSON box below takes them in full.
    const instance = others.length
      ? { [text.column]: box.value, ...Object.fromEntries(others.map((f) => [f, 0])) }
      : box.value;
    try {
      const answer = await api(`/v1/models/${model.id}/predict`, { method: 'POST', body: { instances: [instance] } });
      result.replaceChildren(probabilities(model, answer));
    } catch (err) {
      result.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  };
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'text-title' },
    h('h2', { id: 'text-title' }, 'Text'),
    h(
      'p',
      { class: 'muted', id: 'text-vectorization' },
      `Column ${text.column} · ${text.mode}${text.mode === 'int' ? `, ${text.outputSequenceLength} tokens` : ''} · vocabulary of ${text.vocabularySize ?? '?'} (maxTokens ${text.maxTokens}) · ${text.standardize}, ${text.split}${text.ngrams === 2 ? ', bigrams' : ''}`,
    ),
    h(
      'p',
      { id: 'text-top-tokens' },
      'Top tokens: ',
      (text.topTokens ?? []).map((t) => h('code', {}, t, ' ')),
    ),
    h(
      'form',
      { onsubmit: run },
      h('label', { for: 'text-input', class: 'muted' }, 'Type a sentence; the stored vectorization is applied.'),
      box,
      h('p', {}, h('button', { type: 'submit', id: 'text-predict' }, 'Predict')),
    ),
    result,
  );
}

function probabilities(model, answer) {
  const output = answer.predictions[0];
  const names = model.transforms.classNames;
  const best = answer.classes?.[0];
  const label = answer.labels?.[0] ?? (best !== undefined ? (names?.[best] ?? String(best)) : undefined);
  if (!Array.isArray(output)) return h('p', {}, `Output: ${fmt(output)}`);
  return h(
    'div',
    {},
    h('p', { id: 'digit-class', 'data-class': best }, 'Predicted: ', h('strong', {}, label ?? '?')),
    h(
      'ul',
      { class: 'probs', id: 'digit-probs', 'aria-label': 'class probabilities' },
      output.map((p, i) =>
        h(
          'li',
          { class: i === best ? 'best' : undefined },
          // A single sigmoid output is the probability of class 1.
          h('span', {}, output.length === 1 && names?.length === 2 ? names[1] : (names?.[i] ?? i)),
          h(
            'div',
            { style: { background: '#e8ecf5', borderRadius: '3px' } },
            h('div', { class: 'bar', style: { width: `${(p * 100).toFixed(1)}%` } }),
          ),
          h('span', { class: 'num' }, `${(p * 100).toFixed(1)}%`),
        ),
      ),
    ),
  );
}

function jsonSection(model, shape) {
  const zeros = (dims) => (dims.length === 0 ? 0 : Array.from({ length: dims[0] }, () => zeros(dims.slice(1))));
  const features = model.transforms.features;
  const text = model.transforms.text;
  const example = text
    ? features?.length
      ? { [text.column]: 'a great film', ...Object.fromEntries(features.map((f) => [f, 0])) }
      : 'a great film'
    : features
      ? Object.fromEntries(features.map((f) => [f, 0]))
      : shape.reduce((a, b) => a * b, 1) <= 64
        ? zeros(shape)
        : null;
  const box = h('textarea', { id: 'predict-json', rows: 6, spellcheck: 'false' });
  box.value = example === null ? '[]' : JSON.stringify([example]);
  const out = h('div', { id: 'predict-result', 'aria-live': 'polite' });
  const run = async (event) => {
    event.preventDefault();
    try {
      const parsed = JSON.parse(box.value);
      const instances = Array.isArray(parsed) ? parsed : parsed.instances;
      const answer = await api(`/v1/models/${model.id}/predict`, { method: 'POST', body: { instances } });
      out.replaceChildren(
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['#', 'Class', 'Output'].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          h(
            'tbody',
            {},
            answer.predictions.map((p, i) =>
              h(
                'tr',
                {},
                h('td', {}, i),
                h('td', {}, answer.labels?.[i] ?? answer.classes?.[i] ?? ''),
                h('td', {}, Array.isArray(p) ? p.map(fmt).join(', ') : fmt(p)),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  };
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'json-title' },
    h(
      'form',
      { onsubmit: run },
      h('h2', { id: 'json-title' }, 'Predict from JSON'),
      h(
        'label',
        { for: 'predict-json', class: 'muted' },
        `A JSON array of instances, each of shape [${shape.join(', ')}] (raw values, as in the training data)${features ? ' or a record keyed by the feature columns' : ''}.`,
      ),
      box,
      h('p', {}, h('button', { type: 'submit' }, 'Predict')),
      out,
    ),
  );
}
