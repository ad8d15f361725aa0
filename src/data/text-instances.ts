import { AppError, type FieldError } from '../errors.ts';
import { own } from '../json-guard.ts';
import { isLearned, TextVectorizer, type TextSettings, type TextVectorization } from './text-vectorizer.ts';
import { sizeOf } from './types.ts';

/** The parts of a model's transforms predict needs for text (transforms.ts's Transforms). */
interface TextTransforms {
  featureShape: number[];
  features?: string[];
  text?: TextSettings | TextVectorization;
}

/** One vectorizer per stored vocabulary: the predictor keeps a model's transforms while it is cached. */
const vectorizers = new WeakMap<TextVectorization, TextVectorizer>();

function vectorizerOf(text: TextSettings | TextVectorization | undefined): TextVectorizer {
  if (!text || !isLearned(text)) throw new Error('the model has text settings but no learned vocabulary');
  const cached = vectorizers.get(text);
  if (cached) return cached;
  const vectorizer = new TextVectorizer(text);
  vectorizers.set(text, vectorizer);
  return vectorizer;
}

/**
 * Predict instances of a text model as its input values: each a string (a model of the text
 * alone) or a record with the text column and the other feature columns. The stored
 * vectorization is applied; `otherValues` turns a record into its other features' values
 * (text categories one-hot), which must be finite numbers. Anything else is a 400 naming it.
 */
export function textInstances(
  instances: unknown[],
  t: TextTransforms,
  otherValues: (record: unknown, i: number) => unknown,
): Float32Array {
  const vectorizer = vectorizerOf(t.text);
  const column = t.text!.column;
  const rest = sizeOf(t.featureShape) - vectorizer.width;
  const texts: string[] = [];
  const others = new Float32Array(instances.length * rest);
  const errors: FieldError[] = [];
  const record =
    rest > 0
      ? `a record {${JSON.stringify(column)}: text, ${t.features?.map((f) => JSON.stringify(f)).join(', ')}}`
      : undefined;
  instances.forEach((raw, i) => {
    if (typeof raw === 'string' && rest === 0) {
      texts.push(raw);
      return;
    }
    const text =
      typeof raw === 'object' && raw !== null && !Array.isArray(raw)
        ? own(raw as Record<string, unknown>, column)
        : undefined;
    if (typeof text !== 'string') {
      errors.push({
        path: `/instances/${i}`,
        message: record
          ? `must be ${record}: the model also takes the columns besides the text`
          : `must be a string, or a record with the text in ${JSON.stringify(column)}`,
      });
      return;
    }
    texts.push(text);
    if (rest === 0) return;
    const values = [otherValues(raw, i)].flat(Infinity as 1) as unknown[];
    if (values.length !== rest || values.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
      errors.push({
        path: `/instances/${i}`,
        message: `must be ${record}, the other columns finite numbers or known categories`,
      });
      return;
    }
    others.set(values as number[], i * rest);
  });
  if (errors.length > 0)
    throw new AppError(400, 'invalid_instances', `${errors[0].path} ${errors[0].message}`, errors.slice(0, 10));
  return vectorizer.rows(texts, { x: others, per: rest });
}
