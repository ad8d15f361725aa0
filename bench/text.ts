/**
 * Text classification against a scikit-learn baseline, on real text available offline:
 *   npm run bench:text          (BENCH_TEXT_PER_CLASS=N documents per class, default 800)
 * The corpus is this machine's Debian package descriptions (`apt-cache dumpavail`), labelled
 * by their Section, a few balanced sections. One seeded split (80/20) is written out; our
 * service trains on the training part through the real API, queue and worker (data.text:
 * tfIdf, and the book's IMDB network on multiHot) and scores the test part (uploaded as data.testDataset); /usr/bin/python3 fits
 * TfidfVectorizer + LogisticRegression on the same files. Needs python3-sklearn (apt-get
 * install -y python3-sklearn), for this benchmark only: it is never a runtime dependency.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { holdOut } from '../src/data/split.ts';
import { postJson, startService, waitForJob } from './service.ts';

const SECTIONS = ['games', 'sound', 'graphics', 'science', 'net'];
const PER_CLASS = Number(process.env.BENCH_TEXT_PER_CLASS ?? 800);
const MAX_TOKENS = 10_000;

/** Package descriptions (short line and long text) by section, each text once, in package-name order. */
function debianDescriptions(): { text: string; section: string }[] {
  const dump = execFileSync('apt-cache', ['dumpavail'], { maxBuffer: 1 << 30, encoding: 'utf8' });
  const seen = new Set<string>();
  const bySection = new Map<string, { name: string; text: string }[]>(SECTIONS.map((s) => [s, []]));
  for (const stanza of dump.split('\n\n')) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    const section = /^Section: (?:[a-z-]+\/)?(.+)$/m.exec(stanza)?.[1];
    const description = /^Description(?:-en)?: (.*(?:\n .*)*)/m.exec(stanza)?.[1];
    if (!name || !section || !description || !bySection.has(section)) continue;
    const text = description
      .replace(/\n \.?/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    if (seen.has(text)) continue;
    seen.add(text);
    bySection.get(section)!.push({ name, text });
  }
  return SECTIONS.flatMap((section) =>
    bySection
      .get(section)!
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .slice(0, PER_CLASS)
      .map(({ text }) => ({ text, section })),
  );
}

const quote = (cell: string) => `"${cell.replace(/"/g, '""')}"`;
const toCsv = (rows: { text: string; section: string }[]) =>
  `text,section\n${rows.map((r) => `${quote(r.text)},${r.section}`).join('\n')}\n`;

const SKLEARN = `
import csv, sys
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
def load(p):
    with open(p, newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    return [r['text'] for r in rows], [r['section'] for r in rows]
xt, yt = load(sys.argv[1]); xs, ys = load(sys.argv[2])
vec = TfidfVectorizer(max_features=${MAX_TOKENS})
clf = LogisticRegression(max_iter=2000).fit(vec.fit_transform(xt), yt)
print(clf.score(vec.transform(xs), ys))
`;

const documents = debianDescriptions();
const { held, kept } = holdOut(documents.length, 0.2, 42);
const train = Array.from(kept, (i) => documents[i]);
const test = Array.from(held, (i) => documents[i]);
const dir = await mkdtemp(path.join(tmpdir(), 'bench-text-'));
const trainFile = path.join(dir, 'train.csv');
const testFile = path.join(dir, 'test.csv');
await writeFile(trainFile, toCsv(train));
await writeFile(testFile, toCsv(test));
console.log(
  `Debian package descriptions, sections ${SECTIONS.join(', ')}: ${train.length} training and ${test.length} test documents`,
);

const baseline = Number(execFileSync('/usr/bin/python3', ['-c', SKLEARN, trainFile, testFile], { encoding: 'utf8' }));
console.log(
  `scikit-learn TfidfVectorizer(max_features=${MAX_TOKENS}) + LogisticRegression: ${(baseline * 100).toFixed(1)}%`,
);

const service = await startService();
try {
  const upload = async (file: string) => {
    const response = await fetch(`${service.url}/v1/datasets?text=text&label=section`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: await readFile(file),
    });
    const body = (await response.json()) as { id: string };
    if (response.status !== 201) throw new Error(`upload: ${response.status} ${JSON.stringify(body)}`);
    return body.id;
  };
  const [trainId, testId] = [await upload(trainFile), await upload(testFile)];
  const classes = SECTIONS.length;
  const runs = [
    {
      name: `tfIdf -> dropout 0.5 -> Dense(64, relu) -> dropout 0.5 -> Dense(${classes}, softmax), 8 epochs, adam`,
      mode: 'tfIdf',
      epochs: 8,
      layers: [
        { type: 'dropout', rate: 0.5 },
        { type: 'dense', units: 64, activation: 'relu' },
        { type: 'dropout', rate: 0.5 },
        { type: 'dense', units: classes, activation: 'softmax' },
      ],
    },
    {
      name: `the book's IMDB network: multiHot -> Dense(16, relu) -> Dense(16, relu) -> Dense(${classes}, softmax), 6 epochs, adam`,
      mode: 'multiHot',
      epochs: 6,
      layers: [
        { type: 'dense', units: 16, activation: 'relu' },
        { type: 'dense', units: 16, activation: 'relu' },
        { type: 'dense', units: classes, activation: 'softmax' },
      ],
    },
  ];
  for (const run of runs) {
    const started = performance.now();
    const submitted = await postJson(`${service.url}/v1/jobs`, {
      name: 'bench-text',
      model: { layers: run.layers },
      compile: { optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] },
      data: {
        dataset: trainId,
        testDataset: testId,
        text: { column: 'text', mode: run.mode, maxTokens: MAX_TOKENS },
      },
      fit: { epochs: run.epochs, batchSize: 32, seed: 1 },
      evaluate: true,
    });
    if (submitted.status !== 202) throw new Error(`submit: ${submitted.status} ${JSON.stringify(submitted.body)}`);
    const job = await waitForJob(service.url, submitted.body.id, undefined, 30 * 60_000);
    if (job.status !== 'completed') throw new Error(`job ${job.status}: ${JSON.stringify(job.error)}`);
    const seconds = (performance.now() - started) / 1000;
    const ours = job.evaluation.acc as number;
    console.log(
      `ours, maxTokens ${MAX_TOKENS}, ${run.name}: ${(ours * 100).toFixed(1)}%, ${((ours - baseline) * 100).toFixed(1)} points from the baseline (${seconds.toFixed(0)} s through the API and worker)`,
    );
  }
} finally {
  await service.close();
  await rm(dir, { recursive: true, force: true });
}
