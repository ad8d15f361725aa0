import { age, announce, api, fmt, h } from './api.js';

const enc = encodeURIComponent;
const table = (id, headers, rows, empty) =>
  h(
    'table',
    { id },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h('tbody', {}, rows.length === 0 ? h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty)) : rows),
  );
const metrics = (m) =>
  Object.entries(m ?? {})
    .filter(([, v]) => typeof v === 'number')
    .slice(0, 3)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');

/** #/registry: the tenant's registered model names. */
export async function registryPage(main, signal) {
  const { items } = await api('/v1/registry?limit=100');
  if (signal.aborted) return;
  main.append(
    h('h1', {}, 'Registry'),
    h(
      'section',
      { class: 'card' },
      table(
        'registry-table',
        ['Name', 'Latest version', 'Versions', 'Created'],
        items.map((r) =>
          h(
            'tr',
            { 'data-name': r.name },
            h('td', {}, h('a', { href: `#/registry/${enc(r.name)}` }, r.name)),
            h('td', { class: 'num' }, String(r.latestVersion ?? '–')),
            h('td', { class: 'num' }, String(r.versionCount)),
            h('td', { title: r.createdAt }, age(r.createdAt)),
          ),
        ),
        'No registered models yet: POST /v1/registry/{name}/versions, or a job with "register".',
      ),
    ),
  );
}

/** #/registry/<name>: its versions and aliases; an alias moves (or a rollback happens) from here. */
export async function registeredPage(main, name, signal) {
  const entry = await api(`/v1/registry/${enc(name)}?limit=100`);
  if (signal.aborted) return;
  const versions = entry.versions.map((v) => v.version);
  const aliasRows = entry.aliases.map(({ alias, version }) => {
    const select = h(
      'select',
      { 'aria-label': `Version for ${alias}` },
      versions.map((v) =>
        h('option', { value: String(v), ...(v === version ? { selected: '' } : {}) }, `version ${v}`),
      ),
    );
    const move = h('button', { type: 'button' }, 'Move');
    move.addEventListener('click', async () => {
      const target = Number(select.value);
      try {
        const moved = await api(`/v1/registry/${enc(name)}/aliases/${enc(alias)}`, {
          method: 'PUT',
          body: { version: target },
        });
        announce(`${alias} now points at version ${moved.version} (was ${moved.previousVersion ?? 'none'})`);
        main.replaceChildren();
        await registeredPage(main, name, signal);
      } catch (err) {
        announce(err.message);
      }
    });
    return h(
      'tr',
      { 'data-alias': alias },
      h('td', {}, alias),
      h('td', { class: 'num alias-version' }, String(version)),
      h('td', {}, select, ' ', move),
    );
  });
  main.append(
    h('h1', {}, entry.name),
    h('p', { class: 'muted' }, `${entry.versionCount} version(s); latest ${entry.latestVersion ?? '–'}`),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Aliases'),
      table('alias-table', ['Alias', 'Version', 'Move to'], aliasRows, 'No aliases.'),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Versions'),
      table(
        'version-table',
        ['Version', 'Model', 'Metrics', 'Aliases', 'Created'],
        entry.versions.map((v) =>
          h(
            'tr',
            { 'data-version': String(v.version) },
            h('td', { class: 'num' }, String(v.version)),
            h('td', {}, h('a', { href: `#/models/${v.modelId}` }, v.modelId)),
            h('td', {}, metrics(v.metrics)),
            h('td', {}, (v.aliases ?? []).join(', ')),
            h('td', { title: v.createdAt }, age(v.createdAt)),
          ),
        ),
        'No versions.',
      ),
    ),
  );
}
