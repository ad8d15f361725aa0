// The API key lives in sessionStorage: this tab only, gone when it closes; never in a URL or a cookie.
const KEY_ITEM = 'tts-api-key';
let onUnauthorized = () => undefined;

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_ITEM) || '',
  set: (key) => sessionStorage.setItem(KEY_ITEM, key),
  forget: () => sessionStorage.removeItem(KEY_ITEM),
};

/** What to do when the API answers 401 (app.js shows the key form). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * The API refused `sentKey` (or wanted one): called by api() and by the job page's stream.
 * An answer to a request sent with a key other than the one kept now (before the user gave
 * one, say) is stale: ignored.
 */
export function unauthorized(sentKey) {
  if (sentKey === apiKey.get()) onUnauthorized(sentKey);
}

/** fetch() with `Authorization: Bearer <key>` when a key is kept; the EventSource client uses it too, so reconnects send it. */
export function authFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  const key = apiKey.get();
  if (key) headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

/** fetch() for the JSON API: throws an Error carrying the problem+json body on non-2xx. */
export async function api(path, { method = 'GET', body } = {}) {
  const sentKey = apiKey.get();
  const response = await authFetch(path, {
    method,
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (response.status === 401) unauthorized(sentKey);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text }; // a proxy's or a crashed server's plain-text answer
  }
  if (!response.ok) {
    const details = (data?.errors ?? []).map((e) => `${e.path} ${e.message}`).join('\n');
    const error = new Error(`${data?.detail ?? `HTTP ${response.status}`}${details ? `\n${details}` : ''}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

/** Builds an element: h('td', { class: 'num' }, '0.93'). Children may be strings, nodes or arrays. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children.flat(Infinity))
    if (child !== undefined && child !== null && child !== false)
      el.append(child instanceof Node ? child : String(child));
  return el;
}

export const TERMINAL = ['completed', 'failed', 'cancelled'];

export function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export const fmt = (v) =>
  typeof v === 'number' ? (Math.abs(v) >= 1000 || v === Math.round(v) ? String(v) : v.toPrecision(4)) : String(v ?? '');

export const statusBadge = (status) => h('span', { class: `status ${status}` }, status);

export function announce(text) {
  document.getElementById('announce').textContent = text;
}
