import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { upload } from './dataset-fixtures.ts';
import { getJson, postJson, startService, waitForJob, type TestService } from './helpers.ts';

// As in dashboard.browser.test.ts: Debian's chromium through playwright-core, required in CI.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const noChromium = existsSync(CHROMIUM) ? undefined : `chromium not found (looked for ${CHROMIUM})`;
const inCi = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
if (noChromium && inCi) test('chromium is installed for the browser tests', () => assert.fail(noChromium));

describe("a text model's page in the dashboard", { skip: noChromium }, () => {
  let service: TestService;
  let browser: Browser;
  before(async () => {
    service = await startService();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
  });
  after(async () => {
    await browser?.close();
    await service?.close();
  });

  test('shows the vocabulary size and top tokens, and predicts a typed sentence', async () => {
    const rows = Array.from({ length: 120 }, (_, i) =>
      i % 2 ? `"a wonderful film, loved it ${i % 5}",pos` : `"an awful film, hated it ${i % 5}",neg`,
    );
    const dataset = await upload(service.url, `review,sentiment\n${rows.join('\n')}\n`, 'text/csv', '?text=review');
    assert.equal(dataset.status, 201, JSON.stringify(dataset.body));
    const submitted = await postJson(`${service.url}/v1/jobs`, {
      model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      compile: { optimizer: { type: 'adam', learningRate: 0.1 }, loss: 'binaryCrossentropy' },
      data: { dataset: dataset.body.id, text: { column: 'review', mode: 'multiHot', maxTokens: 20 } },
      fit: { epochs: 10, batchSize: 16, seed: 1 },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await waitForJob(service.url, submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.setDefaultTimeout(30_000);
    await page.goto(`${service.url}/ui/#/models/${job.modelId}`);
    const summary = await page.locator('#text-vectorization').textContent();
    assert.match(summary!, new RegExp(`vocabulary of ${model.transforms.text.vocabularySize} \\(maxTokens 20\\)`));
    const tokens = await page.locator('#text-top-tokens code').allTextContents();
    assert.deepEqual(
      tokens.map((t) => t.trim()),
      model.transforms.text.topTokens,
    );
    for (const [sentence, label] of [
      ['Wonderful! Loved it.', 'pos'],
      ['Awful, hated it', 'neg'],
    ]) {
      await page.locator('#text-input').fill(sentence);
      await page.locator('#text-predict').click();
      await page.locator('#digit-class strong', { hasText: label }).waitFor();
    }
    await page.close();
    assert.deepEqual(errors, [], 'no script errors on the page');
  });
});
