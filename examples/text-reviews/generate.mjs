// Writes reviews.csv: short film reviews labelled pos/neg, made up from the phrases below
// with a seeded random generator, so the file is the same on every run. Generated for this
// repository (no outside source); the same license as the repository.
//   node examples/text-reviews/generate.mjs
import { writeFileSync } from 'node:fs';

let state = 20261201;
const random = () => {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (list) => list[Math.floor(random() * list.length)];

const subjects = [
  'The film',
  'This movie',
  'The plot',
  'The acting',
  'The soundtrack',
  'The ending',
  'The director',
  'The cast',
  'The script',
  'The story',
];
const positive = [
  'was wonderful',
  'is a delight',
  'felt fresh and clever',
  'was brilliant',
  'moved me to tears',
  'is beautifully shot',
  'kept me hooked',
  'was great fun',
  'deserves every award',
  'is a masterpiece',
];
const negative = [
  'was dull',
  'is a mess',
  'felt lazy and predictable',
  'was awful',
  'bored me to sleep',
  'is badly shot',
  'dragged on forever',
  'was a waste of time',
  'deserves no award',
  'is a disaster',
];
const neutral = [
  'I saw it on a Sunday.',
  'My friends came along.',
  'It runs two hours.',
  'The cinema was full.',
  'I watched it at home.',
  '',
];
const posExtra = [
  'Highly recommended!',
  'Would watch again 😍',
  'Loved it.',
  '10/10',
  'Magnifique, vraiment.',
  'Отличный фильм!',
  '最高の映画でした。',
];
const negExtra = [
  'Avoid it.',
  'Never again 😡',
  'Hated it.',
  '2/10',
  'Vraiment nul.',
  'Ужасный фильм.',
  'つまらない映画でした。',
];

const rows = ['review,length,sentiment'];
for (let i = 0; i < 1200; i++) {
  const good = random() < 0.5;
  // A review may praise one thing and pan another: its overall mood wins two to one.
  const parts = [
    `${pick(subjects)} ${pick(good ? positive : negative)}.`,
    `${pick(subjects)} ${pick(random() < 0.25 ? (good ? negative : positive) : good ? positive : negative)}.`,
    pick(neutral),
    pick(good ? posExtra : negExtra),
  ].filter(Boolean);
  const text = parts.join(' ');
  rows.push(`"${text.replace(/"/g, '""')}",${text.length},${good ? 'pos' : 'neg'}`);
}
writeFileSync(new URL('reviews.csv', import.meta.url), `${rows.join('\n')}\n`);
