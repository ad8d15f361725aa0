import { apiKey, h } from './api.js';

/**
 * The API answered 401: ask for an API key. `refused` says the key this tab had kept was the
 * one refused. The key goes to sessionStorage (this tab only) and from there into an
 * Authorization header on every request, never into a URL.
 */
export function keyPage(main, { refused, onKey }) {
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    style: { minWidth: '22rem' },
    'aria-describedby': 'api-key-help api-key-error',
  });
  const error = h(
    'p',
    { class: 'error', role: 'alert', id: 'api-key-error' },
    refused ? 'The API refused the key this tab had kept: enter another.' : '',
  );
  const form = h(
    'form',
    { id: 'api-key-form', 'aria-labelledby': 'api-key-title' },
    h('h1', { id: 'api-key-title' }, 'An API key is needed'),
    h('p', {}, 'This service asks for an API key. Enter yours to see and submit jobs.'),
    h(
      'p',
      { class: 'row', style: { alignItems: 'center' } },
      h('label', { for: 'api-key' }, 'API key'),
      input,
      h('button', { type: 'submit', id: 'api-key-submit' }, 'Use this key'),
    ),
    h(
      'p',
      { id: 'api-key-help', class: 'muted' },
      'Kept in this tab only (sessionStorage): closing the tab forgets it, and "Forget API key" at the top forgets it now. ',
      'It is sent as an Authorization header, never in a URL.',
    ),
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = 'Enter a key.';
      input.focus();
      return;
    }
    apiKey.set(key);
    onKey();
  });
  main.replaceChildren(h('section', { class: 'card' }, form));
  input.focus();
}
