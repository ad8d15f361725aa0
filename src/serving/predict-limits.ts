import { AppError } from '../errors.ts';
import type { Loaded } from './loaded-model.ts';

/** Bytes of JSON one output value can take in an answer (`-0.10000000149011612,`). */
const ANSWER_BYTES_PER_VALUE = 24;

export interface PredictorLimits {
  /** Loaded models kept in memory. */
  cacheSize: number;
  /** Largest answer, estimated before the pass from instances × output values (PREDICT_MAX_ANSWER_BYTES). */
  maxAnswerBytes?: number;
  /** Most bytes one pass may hold in the backend's memory, all requests of a batch together (PREDICT_MAX_PASS_BYTES). */
  maxPassBytes?: number;
  /**
   * Most FLOPs of one pass (PREDICT_MAX_PASS_FLOPS). A pass runs on the event loop: bigger
   * requests are split into passes with a turn of the loop between them.
   */
  maxPassFlops?: number;
  /** Pixels of one `{"b64": …}` image instance before it is resized (DATASET_MAX_IMAGE_PIXELS). */
  maxImagePixels?: number;
}

/** Answer size and pass memory, from the model's shapes, before anything is converted or allocated. */
export function checkSize(loaded: Loaded, instances: number, limits: Required<PredictorLimits>) {
  const n = (v: number) => v.toLocaleString('en');
  const answer = instances * loaded.outputValues * ANSWER_BYTES_PER_VALUE;
  if (answer > limits.maxAnswerBytes) {
    const message = `${n(instances)} instances × ${n(loaded.outputValues)} output values each would make an answer of about ${n(answer)} bytes; the limit is ${n(limits.maxAnswerBytes)} (PREDICT_MAX_ANSWER_BYTES): send fewer instances per request`;
    throw new AppError(413, 'answer_too_large', message, [{ path: '/instances', message }]);
  }
  // Requests are split into passes; only an instance that alone exceeds a pass's budget cannot be served.
  const budget = [
    ['bytes', loaded.passBytes, limits.maxPassBytes, 'PREDICT_MAX_PASS_BYTES'],
    ['FLOPs', loaded.passFlops, limits.maxPassFlops, 'PREDICT_MAX_PASS_FLOPS'],
  ] as const;
  for (const [what, one, cap, setting] of budget) {
    if (instances === 0 || one <= cap) continue;
    const message = `one instance of this model takes ${n(one)} ${what} in a pass through it; the limit is ${n(cap)} (${setting})`;
    throw new AppError(422, 'pass_too_large', message, [{ path: '/instances/0', message }]);
  }
}
