import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { cuttingProxy } from './cutting-proxy.ts';
import {
  getJson,
  postJson,
  readEvents,
  smallMnistJob,
  startService,
  tinySweep,
  testConfig,
  waitForJob,
  type TestService,
} from './helpers.ts';
import { grey, sendArchive, shadesJob, shadesZip } from './image-fixtures.ts';
import { trainingChildren } from './processes.ts';

// Debian's chromium through playwright-core (no browser download); .ci/run installs it.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Without it these tests are skipped on a developer's machine, but CI must not pass by skipping them.
const noChromium = existsSync(CHROMIUM)
  ? undefined
  : `chromium not found: apt-get install chromium (looked for ${CHROMIUM}; CHROMIUM_PATH overrides)`;
const inCi = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
if (noChromium && inCi) test('chromium is installed for the browser tests', () => assert.fail(noChromium));
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const EPOCHS = 6;
// Callbacks given to page.evaluate/waitForFunction run in the page; the project's TS lib has no DOM.
declare const document: any, window: any, MutationObserver: any;

/**
 * Records every value the job page's epoch-chart point count takes from now on. A MutationObserver
 * gets one record per change, but a burst of events (a replay) arrives as several records in one
 * callback: each record's new value is the next record's old value, the last one's is the current value.
 */
const watchPoints = (page: Page) =>
  page.evaluate(() => {
    const grid = document.getElementById('epoch-charts')!;
    const w = window as unknown as { seenPoints: number[] };
    w.seenPoints = [Number(grid.dataset.points)];
    new MutationObserver((records: any[]) => {
      for (let i = 0; i < records.length; i++) {
        w.seenPoints.push(Number(i + 1 < records.length ? records[i + 1].oldValue : grid.dataset.points));
      }
    }).observe(grid, { attributes: true, attributeOldValue: true, attributeFilter: ['data-points'] });
  });
const seenPoints = (page: Page) => page.evaluate(() => (window as unknown as { seenPoints: number[] }).seenPoints);
const points = (page: Page) => page.locator('#epoch-charts').getAttribute('data-points').then(Number);

/** Submits the small MNIST job (EPOCHS epochs) from the page's editor; returns its id from the job page's URL. */
async function submitFromEditor(page: Page, name: string): Promise<string> {
  // Many small batches, so the test can catch the run between epochs and hold it there (see `holdTraining`).
  const base = smallMnistJob();
  const job = smallMnistJob({
    name,
    data: { ...base.data, limit: { train: 1024, test: 128 } },
    fit: { epochs: EPOCHS, batchSize: 16, validationSplit: 0.2, shuffle: true, seed: 1 },
  });
  await page.locator('#job-request').fill(JSON.stringify(job, null, 2));
  await page.getByRole('button', { name: 'Submit job' }).click();
  await page.waitForURL(/#\/jobs\/[^/]+$/);
  return decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
}

/**
 * Waits (on the event stream, not the page) for `epoch` to be recorded, then freezes the job's
 * training child with SIGSTOP: nothing more reaches the stream until `release`. The hold does
 * not depend on how fast training is; only whether the run had already ended before it does,
 * and the caller reads that from `job`.
 */
async function holdTraining(base: string, jobId: string, epoch: number) {
  await readEvents(`${base}/v1/jobs/${jobId}/events`, {
    stopAfter: (e) => (e.event === 'epoch' && e.data.epoch >= epoch) || e.event === 'end',
  });
  const children = trainingChildren(process.pid);
  assert.equal(children.length, 1, `one training child (found ${children.join(', ') || 'none'})`);
  process.kill(children[0], 'SIGSTOP');
  // The record's progress and the stream's epoch events are written together (one MULTI):
  // with the child frozen, progress.epoch is exactly how many epoch events the stream holds.
  const job = (await getJson(`${base}/v1/jobs/${jobId}`)).body;
  let held = true;
  return {
    job,
    release: () => {
      if (held) process.kill(children[0], 'SIGCONT');
      held = false;
    },
  };
}

/** Each value is the one before plus one: the chart gained exactly one point per epoch event. */
function assertOneAtATime(seen: number[]) {
  for (let i = 1; i < seen.length; i++) assert.equal(seen[i], seen[i - 1] + 1, `points went ${seen.join(' -> ')}`);
}

describe('dashboard in a browser', { skip: noChromium }, () => {
  let service: TestService;
  let context: BrowserContext;
  let profile: string;
  const pageErrors: string[] = [];

  before(async () => {
    service = await startService();
    profile = await mkdtemp(path.join(tmpdir(), 'tts-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
    });
  });
  after(async () => {
    await context?.close();
    await service?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  test('submit a job, watch its curves grow per epoch, reload mid-run, draw a digit and predict', async (t) => {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.setDefaultTimeout(45_000);

    await page.goto(`${service.url}/`);
    await page.locator('#job-request[data-ready="true"]').waitFor();
    assert.match(
      await page.locator('#job-request').inputValue(),
      /"dataset": "mnist"/,
      'the editor starts with the MNIST recipe',
    );
    const jobId = await submitFromEditor(page, 'browser-mnist');

    await page.locator('#epoch-charts').waitFor();
    await watchPoints(page);
    const hold = await holdTraining(service.url, jobId, 2);
    try {
      const recorded = hold.job.progress.epoch as number;
      if (hold.job.status === 'running') {
        // The page draws exactly the epochs the stream holds, one at a time, and no more.
        await page.waitForFunction(
          (n) => Number(document.getElementById('epoch-charts')?.dataset.points) === n,
          recorded,
        );
        assertOneAtATime(await seenPoints(page));
        assert.ok(recorded >= 2 && recorded < EPOCHS, `held mid-run at ${recorded} of ${EPOCHS} epochs`);

        // Reload mid-run: the stream replays from the start, so exactly the points so far come back.
        await page.reload();
        await page.locator('#epoch-charts').waitFor();
        await page.waitForFunction(
          (n) => Number(document.getElementById('epoch-charts')?.dataset.points) === n,
          recorded,
        );
        assert.equal(
          await page.locator('main[data-ended="true"]').count(),
          0,
          'the replayed page knows the job is still running',
        );
        assert.deepEqual(
          await page.locator('#epoch-table tbody tr').evaluateAll((rows) => rows.map((r) => (r as any).dataset.epoch)),
          Array.from({ length: recorded }, (_, i) => String(i + 1)),
          'the replay has each recorded epoch once',
        );
      } else {
        // Training outran the hold: the reload replays a finished job, checked below all the same.
        assert.equal(hold.job.status, 'completed', JSON.stringify(hold.job.error));
        t.diagnostic(
          `the job had finished before the hold (${recorded} of ${EPOCHS} epochs): the reload replayed a finished run`,
        );
        await page.reload();
        await page.locator('#epoch-charts').waitFor();
      }
      await watchPoints(page);
    } finally {
      hold.release();
    }
    // Released: the rest arrives live, one point per epoch, after the replayed ones.
    await page.locator('main[data-ended="true"]').waitFor();
    assertOneAtATime(await seenPoints(page));
    assert.equal(await points(page), EPOCHS);
    for (const metric of ['loss', 'acc']) {
      assert.equal(
        await page.locator(`figure[data-metric="${metric}"]`).getAttribute('data-points'),
        String(EPOCHS),
        `${metric} chart`,
      );
    }
    assert.deepEqual(
      await page.locator('#epoch-table tbody tr').evaluateAll((rows) => rows.map((r) => (r as any).dataset.epoch)),
      Array.from({ length: EPOCHS }, (_, i) => String(i + 1)),
      'one table row per epoch, none twice',
    );
    await page.locator('#job-status .status.completed').waitFor();
    await page.locator('#confusion-matrix tbody tr').first().waitFor();
    assert.equal(await page.locator('#confusion-matrix tbody tr').count(), 10);
    assert.equal(await page.locator('#summary-table tbody tr').count(), 2);
    assert.deepEqual(await page.locator('#timeline li .status').allTextContents(), ['queued', 'running', 'completed']);

    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-job.png', fullPage: true });

    // The jobs list shows it; compare overlays its curves.
    await page.goto(`${service.url}/ui/#/`);
    await page.locator(`tr[data-job="${jobId}"] .status.completed`).waitFor();
    await page.getByRole('checkbox', { name: new RegExp(jobId) }).check();
    await page.getByRole('button', { name: 'Compare selected' }).click();
    await page.locator(`#compare-charts figure[data-metric="loss"][data-points="${EPOCHS}"]`).waitFor();

    // Try the model: draw a 7 on the pad; the probabilities of the ten classes come back.
    await page.goto(`${service.url}/ui/#/jobs/${jobId}`);
    await page.locator('#model-link').click();
    const pad = page.locator('#digit-pad');
    await pad.waitFor();
    const box = (await pad.boundingBox())!;
    const at = (fx: number, fy: number) => [box.x + fx * box.width, box.y + fy * box.height] as const;
    await page.mouse.move(...at(0.25, 0.2));
    await page.mouse.down();
    for (const [fx, fy] of [
      [0.5, 0.2],
      [0.75, 0.2],
      [0.6, 0.5],
      [0.45, 0.85],
    ] as const)
      await page.mouse.move(...at(fx, fy), { steps: 8 });
    await page.mouse.up();
    await page.locator('#digit-probs li').nth(9).waitFor();
    assert.equal(await page.locator('#digit-probs li').count(), 10);
    assert.match((await page.locator('#digit-class').textContent())!, /Predicted: \d/);
    const probs = (await page.locator('#digit-probs li span.num').allTextContents()).map((t) => Number.parseFloat(t));
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 100) < 1, `probabilities sum to 100%: ${probs}`);
    await page.screenshot({ path: 'test-results/dashboard-model.png', fullPage: true });

    // The registry: the model as two versions of one name, an alias moved from the page.
    const { modelId } = (await getJson(`${service.url}/v1/jobs/${jobId}`)).body;
    for (let i = 0; i < 2; i++)
      assert.equal((await postJson(`${service.url}/v1/registry/digits/versions`, { modelId })).status, 201);
    const put = await fetch(`${service.url}/v1/registry/digits/aliases/production`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1 }),
    });
    assert.equal(put.status, 200);
    await page.goto(`${service.url}/ui/#/registry`);
    await page.locator('#registry-table tr[data-name="digits"] a').click();
    await page.locator('#version-table tr[data-version="2"]').waitFor();
    const production = page.locator('#alias-table tr[data-alias="production"]');
    assert.equal(await production.locator('.alias-version').textContent(), '1');
    await production.getByRole('combobox').selectOption('2');
    await production.getByRole('button', { name: 'Move' }).click();
    await page.locator('#alias-table tr[data-alias="production"] .alias-version', { hasText: '2' }).waitFor();
    const alias = (await getJson(`${service.url}/v1/registry/digits/aliases/production`)).body;
    assert.equal(alias.version, 2, 'the page moved the alias');

    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });

  test('an image model: a chosen file and a dropped image are sent as b64 and their prediction shown', async () => {
    const { body: dataset } = await sendArchive(service.url, await shadesZip(), 'shades.zip', {
      imageSize: '[6,6]',
      colorMode: 'grayscale',
    });
    const submitted = await postJson(`${service.url}/v1/jobs`, shadesJob(dataset.id));
    const job = await waitForJob(service.url, submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${service.url}/ui/#/models/${job.modelId}`);
    await page.locator('#image-spec', { hasText: '6×6' }).waitFor();
    const light = await grey(220, 30, 20, 'png', 5);
    await page.locator('#image-file').setInputFiles({ name: 'light.png', mimeType: 'image/png', buffer: light });
    await page.locator('#image-result strong', { hasText: 'light' }).waitFor();
    // A drop: the same bytes through a DataTransfer, as a file dragged from the desktop arrives.
    const dark = (await grey(25, 9, 9, 'png', 6)).toString('base64');
    await page.evaluate((b64: string) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new (window as any).DataTransfer();
      transfer.items.add(new (window as any).File([bytes], 'dark.png', { type: 'image/png' }));
      const drop = new (window as any).DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true });
      document.getElementById('image-drop').dispatchEvent(drop);
    }, dark);
    await page.locator('#image-result strong', { hasText: 'dark' }).waitFor();
    assert.deepEqual(errors, [], 'no script errors on the page');
    await page.close();
  });

  test('a sweep: one objective curve per trial, both trials completed in the table, the best marked', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.setDefaultTimeout(120_000);
    // Two one-epoch trials on 256 digits; learning rates four decades apart (a log axis on the scatter).
    const LR = '/compile/optimizer/learningRate';
    const submitted = await postJson(`${service.url}/v1/sweeps`, {
      ...tinySweep('browser-sweep'),
      parameters: { [LR]: { values: [0.01, 1e-6] } },
      parallelism: 1,
      register: { name: 'browser-sweep-best' },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id as string;

    // From the nav: the sweeps list links to the sweep's page.
    await page.goto(`${service.url}/ui/#/`);
    await page.getByRole('navigation').getByRole('link', { name: 'Sweeps' }).click();
    await page.locator(`#sweeps-table tr[data-sweep="${id}"] a`).click();
    await page.locator('main[data-ended="true"]').waitFor();
    const sweep = (await getJson(`${service.url}/v1/sweeps/${id}`)).body;
    assert.equal(sweep.status, 'completed', JSON.stringify(sweep));
    const best = sweep.best.index as number;

    for (const index of [0, 1])
      await page.locator(`#trials-table tr[data-trial="${index}"][data-status="completed"]`).waitFor();
    await page.locator(`#trials-table tr.best[data-trial="${best}"] a[href^="#/models/"]`).waitFor();
    assert.equal(await page.locator('#trials-table tr.best').count(), 1, 'one trial is marked best');
    assert.match((await page.locator(`#trials-table tr[data-trial="${best}"]`).textContent())!, /best/);
    await page.locator('#best-registered', { hasText: 'browser-sweep-best' }).waitFor();
    assert.equal(await page.locator('#cancel-sweep').isVisible(), false, 'no Cancel once the sweep has ended');

    // One line per trial, each with its one epoch; the best one drawn thicker.
    const lines = await page.evaluate(() => {
      const chart = window.Chart.getChart(document.querySelector('#trial-curves canvas'));
      return chart.data.datasets.map((d: any) => ({ label: d.label, points: d.data.length, width: d.borderWidth }));
    });
    assert.deepEqual(lines.map((l: any) => l.label).sort(), ['trial 0', 'trial 1']);
    assert.ok(
      lines.every((l: any) => l.points === 1),
      JSON.stringify(lines),
    );
    const widths = Object.fromEntries(lines.map((l: any) => [l.label, l.width]));
    assert.ok(
      widths[`trial ${best}`] > widths[`trial ${1 - best}`],
      `the best line is thicker: ${JSON.stringify(widths)}`,
    );
    assert.equal(await page.locator('#trial-curves').getAttribute('data-best'), String(best));
    // The learning rate against the objective: a point per trial, on a log axis.
    const scatter = await page.evaluate(() => {
      const chart = window.Chart.getChart(document.querySelector('#parameter-charts canvas'));
      return { x: chart.options.scales.x.type, points: chart.data.datasets.map((d: any) => d.data.length) };
    });
    assert.deepEqual(scatter, { x: 'logarithmic', points: [1, 1] });
    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-sweep.png', fullPage: true });

    // Back in the list: both trials done, and the best.
    await page.goto(`${service.url}/ui/#/sweeps`);
    const row = page.locator(`#sweeps-table tr[data-sweep="${id}"]`);
    await row.locator('.status.completed').waitFor();
    assert.match((await row.textContent())!, new RegExp(`2/2.*\\(trial ${best}\\)`));
    await page.close();
    assert.deepEqual(errors, [], 'no script errors on the page');
  });
});

describe('dashboard in a browser, with API keys', { skip: noChromium }, () => {
  const KEY = 'browser-tenant-key-0123456789abcdef';
  let service: TestService;
  let proxy: ReturnType<typeof cuttingProxy>;
  let base: string;
  let context: BrowserContext;
  let profile: string;
  const pageErrors: string[] = [];
  const requestUrls: string[] = [];

  before(async () => {
    service = await startService({ config: await testConfig({ API_KEYS: `${KEY}:browser-tenant` }) });
    // The page goes through a proxy that holds its first event stream after the first epoch, then drops it.
    proxy = cuttingProxy(service.url, { hold: true });
    base = await proxy.listen();
    profile = await mkdtemp(path.join(tmpdir(), 'tts-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
    });
  });
  after(async () => {
    await context?.close();
    await proxy?.close();
    await service?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  test('asks for the key, then lists jobs; the authenticated stream draws one point per epoch, resumes a dropped connection, and a reload keeps the key', async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('request', (request) => requestUrls.push(request.url()));
    page.setDefaultTimeout(45_000);

    // The API answers 401: the page asks for a key, with the input focused, and says where it is kept.
    await page.goto(`${base}/`);
    const input = page.getByLabel('API key', { exact: true });
    await input.waitFor();
    assert.equal(await input.getAttribute('type'), 'password');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'api-key', 'the key input has the focus');
    await page.getByText(/kept in this tab only/i).waitFor();
    assert.equal(await page.locator('#jobs-table').count(), 0, 'no jobs list without a key');
    assert.equal(await page.locator('#forget-key').isVisible(), false);
    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-key.png', fullPage: true });

    // By keyboard: a wrong key is refused and the form comes back; the right one shows the jobs.
    await page.keyboard.type('not-the-right-key-0123456789');
    await page.keyboard.press('Enter');
    await page.getByText(/refused the key/).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'api-key');
    await page.keyboard.type(KEY);
    await page.keyboard.press('Enter');
    await page.locator('#job-request[data-ready="true"]').waitFor();
    await page.locator('#jobs-table tbody tr').first().waitFor();
    assert.match((await page.locator('#jobs-table tbody').textContent())!, /No jobs yet/);
    assert.equal(await page.locator('#forget-key').isVisible(), true);
    assert.equal(await page.evaluate(() => window.sessionStorage.getItem('tts-api-key')), KEY);

    const jobId = await submitFromEditor(page, 'browser-keyed');

    // The stream is dropped once the first epoch is drawn; the client resumes after the last event it saw, with the key.
    await page.locator('#epoch-charts').waitFor();
    await watchPoints(page);
    await page.waitForFunction(() => Number(document.getElementById('epoch-charts')?.dataset.points) >= 1);
    assert.equal(await points(page), 1, 'the proxy held the stream after the first epoch');
    proxy.drop();
    await page.locator('main[data-ended="true"]').waitFor();
    assertOneAtATime(await seenPoints(page));
    assert.equal(await points(page), EPOCHS);
    assert.equal(proxy.streams.length, 2, JSON.stringify(proxy.streams));
    assert.equal(proxy.streams[0].lastEventId, undefined);
    assert.match(
      proxy.streams[1].lastEventId!,
      /^\d+-\d+$/,
      `the second stream resumed with Last-Event-ID: ${JSON.stringify(proxy.streams)}`,
    );
    await page.locator('#job-status .status.completed').waitFor();
    assert.deepEqual(await page.locator('#timeline li .status').allTextContents(), ['queued', 'running', 'completed']);

    // Reload: the key is still there (sessionStorage), the stream replays every point, once each.
    await page.reload();
    await page.locator('#epoch-charts').waitFor();
    await watchPoints(page);
    await page.locator('main[data-ended="true"]').waitFor();
    assertOneAtATime(await seenPoints(page));
    assert.equal(await points(page), EPOCHS);
    assert.equal(await page.locator('#api-key').count(), 0, 'no key form after the reload');
    assert.deepEqual(
      await page.locator('#epoch-table tbody tr').evaluateAll((rows) => rows.map((r) => (r as any).dataset.epoch)),
      Array.from({ length: EPOCHS }, (_, i) => String(i + 1)),
      'one table row per epoch, none twice',
    );
    assert.equal(proxy.streams.length, 3);
    assert.equal(proxy.streams[2].lastEventId, undefined, 'a reload replays from the start');
    assert.deepEqual(
      proxy.streams.map((s) => s.authorization),
      Array(3).fill(`Bearer ${KEY}`),
      'every stream request sends the key',
    );
    await page.screenshot({ path: 'test-results/dashboard-job-keyed.png', fullPage: true });

    // Forget the key: the form is back and the tab holds no key.
    await page.getByRole('button', { name: 'Forget API key' }).click();
    await page.getByLabel('API key', { exact: true }).waitFor();
    assert.equal(await page.evaluate(() => window.sessionStorage.getItem('tts-api-key')), null);

    assert.ok(requestUrls.some((u) => u.includes(`/v1/jobs/${jobId}`)));
    assert.deepEqual(
      requestUrls.filter((u) => u.includes(KEY)),
      [],
      'the key is never in a URL',
    );
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });
});
