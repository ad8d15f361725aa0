import { AppError } from '../errors.ts';
import type { TextSpec } from '../schemas/job-request.ts';

/** `maxTokens` when a job gives none (Keras has no default cap; a fixed-width vector needs one). */
export const DEFAULT_MAX_TOKENS = 10_000;
/**
 * Bytes the learned vocabulary may take as JSON: it is stored in the model's metadata, which
 * Redis holds. Keras does not cap a token's length, and neither do we, so a vocabulary of long
 * tokens (text without spaces, split on whitespace) is refused rather than cut.
 */
export const MAX_VOCABULARY_BYTES = 8 * 1024 * 1024;
/** Tokens the model record shows (GET /v1/models/:id); the whole vocabulary stays in the stored transforms. */
export const TOP_TOKENS_SHOWN = 20;

/** A text spec with Keras's defaults filled in. */
export type TextSettings = Required<Omit<TextSpec, 'outputSequenceLength'>> & Pick<TextSpec, 'outputSequenceLength'>;

/** What a trained model keeps of its text vectorization: the settings, the vocabulary and (tfIdf) the idf weights. */
export interface TextVectorization extends TextSettings {
  /** Learned tokens, most frequent first, without the special tokens (padding, OOV). */
  vocabulary: string[];
  /** tfIdf: the weight of each index of the output (index 0, the OOV, weighs the mean of the others, as in Keras). */
  idf?: number[];
  /** Keras's vocabulary_size(): the learned tokens and the special ones. */
  vocabularySize: number;
  /** The first TOP_TOKENS_SHOWN learned tokens, for the model record. */
  topTokens: string[];
}

export const textSettings = (spec: TextSpec): TextSettings => ({
  column: spec.column,
  mode: spec.mode ?? 'int',
  maxTokens: spec.maxTokens ?? DEFAULT_MAX_TOKENS,
  ngrams: spec.ngrams ?? 1,
  standardize: spec.standardize ?? 'lowerAndStripPunctuation',
  split: spec.split ?? 'whitespace',
  ...(spec.outputSequenceLength !== undefined ? { outputSequenceLength: spec.outputSequenceLength } : {}),
});

/** Values one document becomes: a sequence of indices, or one value per vocabulary slot (Keras's pad_to_max_tokens). */
export const textWidth = (s: TextSettings) => (s.mode === 'int' ? (s.outputSequenceLength ?? 0) : s.maxTokens);

/** Indices before the learned tokens: int mode has the padding token (0) and the OOV (1); the others the OOV (0). */
const specialTokens = (s: TextSettings) => (s.mode === 'int' ? 2 : 1);

/** Keras's DEFAULT_STRIP_REGEX: ASCII punctuation. */
const PUNCTUATION = /[!"#$%&()*+,\-./:;<=>?@[\\\]^_`{|}~']/g;
const WHITESPACE = /\s+/u;

/** A document's tokens: NFC, standardized, split, and with ngrams 2 its bigrams after its unigrams (as tf.strings.ngrams orders them). */
export function tokenize(text: string, s: TextSettings): string[] {
  let t = text.normalize('NFC');
  if (s.standardize !== 'none') t = t.toLowerCase();
  if (s.standardize === 'lowerAndStripPunctuation') t = t.replace(PUNCTUATION, '');
  const unigrams = s.split === 'character' ? Array.from(t) : t.split(WHITESPACE).filter((w) => w !== '');
  if (s.ngrams !== 2) return unigrams;
  const tokens = unigrams.slice();
  for (let i = 0; i + 1 < unigrams.length; i++) tokens.push(`${unigrams[i]} ${unigrams[i + 1]}`);
  return tokens;
}

/** Code-point order, which is UTF-8 byte order (numpy's order for the byte strings Keras sorts). */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * Learns the vocabulary of `texts` (the training rows only) as Keras's adapt does: tokens by
 * count, most frequent first, ties the greater token first (np.lexsort((tokens, counts))[::-1]),
 * cut to maxTokens less the special tokens; tfIdf also the idf log(1 + N / (1 + df)).
 */
export function learnVocabulary(texts: Iterable<string>, s: TextSettings): TextVectorization {
  const counts = new Map<string, number>();
  const documents = new Map<string, number>();
  let n = 0;
  for (const text of texts) {
    n++;
    const tokens = tokenize(text, s);
    for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
    if (s.mode === 'tfIdf') for (const token of new Set(tokens)) documents.set(token, (documents.get(token) ?? 0) + 1);
  }
  const vocabulary = [...counts.keys()]
    .sort((a, b) => counts.get(b)! - counts.get(a)! || compareCodePoints(b, a))
    .slice(0, s.maxTokens - specialTokens(s));
  checkVocabularySize(vocabulary, s);
  const result: TextVectorization = {
    ...s,
    vocabulary,
    vocabularySize: vocabulary.length + specialTokens(s),
    topTokens: vocabulary.slice(0, TOP_TOKENS_SHOWN),
  };
  if (s.mode === 'tfIdf') {
    const weights = vocabulary.map((token) => Math.log(1 + n / (1 + documents.get(token)!)));
    const mean = weights.length > 0 ? weights.reduce((a, b) => a + b, 0) / weights.length : 0;
    result.idf = [mean, ...weights];
  }
  return result;
}

/** Whether a text spec in the transforms has been learned already (a parent model's) or is still to learn. */
export const isLearned = (t: TextSettings | TextVectorization): t is TextVectorization => 'vocabulary' in t;

const INHERITED_SETTINGS = ['mode', 'maxTokens', 'outputSequenceLength', 'ngrams', 'standardize', 'split'] as const;

/**
 * A fine-tuning job's text keeps its parent's vocabulary (and idf): the parent's first layer
 * learned what each index means, so a new vocabulary would scramble them. The settings must
 * be the parent's; only the column may have another name. A 422 names the one that differs.
 */
export function inheritVectorization(parent: TextVectorization, settings: TextSettings): TextVectorization {
  for (const key of INHERITED_SETTINGS) {
    if (settings[key] === parent[key]) continue;
    const message = `is ${JSON.stringify(settings[key]) ?? 'unset'} but the parent model vectorizes its text with ${JSON.stringify(parent[key]) ?? 'none'}; a fine-tuned model keeps its parent's vocabulary and settings`;
    throw new AppError(422, 'data_mismatch', `/data/text/${key} ${message}`, [{ path: `/data/text/${key}`, message }]);
  }
  return { ...parent, column: settings.column };
}

function checkVocabularySize(vocabulary: string[], s: TextSettings) {
  let bytes = 0;
  for (const token of vocabulary) bytes += Buffer.byteLength(token) + 3;
  if (bytes <= MAX_VOCABULARY_BYTES) return;
  const message = `the ${vocabulary.length} learned tokens take ${bytes} bytes, over the ${MAX_VOCABULARY_BYTES} a model may store: lower maxTokens (${s.maxTokens}), or split the text into shorter tokens`;
  throw new AppError(422, 'vocabulary_too_large', `/data/text/maxTokens ${message}`, [
    { path: '/data/text/maxTokens', message },
  ]);
}

/** Turns documents into model input with a learned vocabulary: `width` values each, written into `out` at `offset` every `stride`. */
export class TextVectorizer {
  private readonly index = new Map<string, number>();
  readonly width: number;

  constructor(private readonly v: TextVectorization) {
    const first = specialTokens(v);
    v.vocabulary.forEach((token, i) => {
      this.index.set(token, i + first);
    });
    this.width = textWidth(v);
  }

  /** Index of a token: the OOV index (1 in int mode, 0 otherwise) for one the vocabulary lacks. */
  indexOf(token: string): number {
    return this.index.get(token) ?? (this.v.mode === 'int' ? 1 : 0);
  }

  /** Writes one document's values at out[offset .. offset + width) (zeros first). */
  write(text: string, out: Float32Array, offset: number) {
    out.fill(0, offset, offset + this.width);
    const tokens = tokenize(text, this.v);
    if (this.v.mode === 'int') {
      const n = Math.min(tokens.length, this.width);
      for (let i = 0; i < n; i++) out[offset + i] = this.indexOf(tokens[i]);
      return;
    }
    for (const token of tokens) {
      const j = offset + this.indexOf(token);
      if (this.v.mode === 'multiHot') out[j] = 1;
      else out[j] += 1;
    }
    if (this.v.mode === 'tfIdf') {
      const idf = this.v.idf!;
      for (let k = 0; k < idf.length; k++) out[offset + k] *= idf[k];
    }
  }

  /** Documents as rows of `width` values followed by `rest` values per row from `others` (count x rest), or none. */
  rows(texts: string[], others?: { x: ArrayLike<number>; per: number }): Float32Array {
    const rest = others?.per ?? 0;
    const per = this.width + rest;
    const out = new Float32Array(texts.length * per);
    texts.forEach((text, i) => {
      this.write(text, out, i * per);
      for (let j = 0; j < rest; j++) out[i * per + this.width + j] = others!.x[i * rest + j];
    });
    return out;
  }
}
