import type { Transforms } from './transforms.ts';
import { isLearned, learnVocabulary, TextVectorizer } from './text-vectorizer.ts';
import type { LoadedData, Split } from './types.ts';

/**
 * data.text, in the worker: learns the vocabulary (and idf) on the training rows `fitRows`
 * (those fit trains on, without the validation split; all of them when none is held out),
 * never on the test split, and puts each document's values in front of its other features.
 * Data without text passes through as it is.
 */
export function vectorizeText(
  t: Transforms,
  data: LoadedData,
  fitRows?: ArrayLike<number>,
): { transforms: Transforms; train: Split; test?: Split } {
  const texts = data.train.texts;
  if (!t.text || !texts) return { transforms: t, train: data.train, test: data.test };
  const fitTexts = fitRows ? Array.from(fitRows, (i) => texts[i]) : texts;
  // A fine-tuning job's text arrives learned (its parent's vocabulary): it is kept as it is.
  const vectorization = isLearned(t.text) ? t.text : learnVocabulary(fitTexts, t.text);
  const vectorizer = new TextVectorizer(vectorization);
  const withText = (split: Split): Split => ({
    x: vectorizer.rows(split.texts!, { x: split.x, per: split.count > 0 ? split.x.length / split.count : 0 }),
    y: split.y,
    count: split.count,
  });
  return {
    transforms: { ...t, text: vectorization },
    train: withText(data.train),
    test: data.test?.texts ? withText(data.test) : data.test,
  };
}
