import { announce, apiKey, h, whenUnauthorized } from './api.js';
import { jobsPage } from './jobs-page.js';
import { jobPage } from './job-page.js';
import { comparePage } from './compare-page.js';
import { keyPage } from './key-page.js';
import { modelsPage, modelPage } from './model-page.js';
import { registeredPage, registryPage } from './registry-page.js';
import { sweepPage } from './sweep-page.js';
import { sweepsPage } from './sweeps-page.js';

// Hash routes keep the dashboard a set of static files: #/, #/jobs/<id>, #/compare/<id>,<id>, #/models, #/models/<id>,
// #/registry, #/registry/<name>, #/sweeps, #/sweeps/<id>.
let current;
let first = true;
// The key form is up: further 401s (other requests of the page it replaced) change nothing.
let asking = false;

const forgetKey = document.getElementById('forget-key');
const showKeyControls = () => {
  forgetKey.hidden = !apiKey.get();
};
forgetKey.addEventListener('click', () => {
  apiKey.forget();
  showKeyControls();
  announce('API key forgotten');
  route();
});

// A 401 from the API: stop the page and ask for a key; once given, show the page again.
whenUnauthorized((sentKey) => {
  if (asking) return;
  asking = true;
  current?.abort();
  apiKey.forget();
  showKeyControls();
  keyPage(document.getElementById('main'), {
    refused: Boolean(sentKey),
    onKey: () => {
      showKeyControls();
      announce('API key kept for this tab');
      route();
    },
  });
});

async function route() {
  asking = false;
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const main = document.getElementById('main');
  main.replaceChildren();
  const [page, arg] = (location.hash.slice(1) || '/').split('/').filter(Boolean);
  try {
    if (page === 'jobs' && arg) await jobPage(main, decodeURIComponent(arg), controller.signal);
    else if (page === 'compare')
      await comparePage(main, (arg ?? '').split(',').filter(Boolean).map(decodeURIComponent), controller.signal);
    else if (page === 'models' && arg) await modelPage(main, decodeURIComponent(arg), controller.signal);
    else if (page === 'models') await modelsPage(main, controller.signal);
    else if (page === 'registry' && arg) await registeredPage(main, decodeURIComponent(arg), controller.signal);
    else if (page === 'registry') await registryPage(main, controller.signal);
    else if (page === 'sweeps' && arg) await sweepPage(main, decodeURIComponent(arg), controller.signal);
    else if (page === 'sweeps') await sweepsPage(main, controller.signal);
    else await jobsPage(main, controller.signal);
  } catch (err) {
    if (!controller.signal.aborted) main.append(h('p', { class: 'error', role: 'alert' }, err.message));
  }
  // Move focus to the new page for keyboard and screen-reader users (not on the first load).
  if (!first && !controller.signal.aborted) main.focus({ preventScroll: true });
  first = false;
}

window.addEventListener('hashchange', route);
showKeyControls();
route();
