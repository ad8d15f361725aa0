import type { LayerDef } from './model-spec.ts';
import { own } from '../json-guard.ts';

type Shape = (number | null)[];

/** What one layer will cost, known before any weight is allocated. */
export interface LayerEstimate {
  name: string;
  type: string;
  params: number;
  /** Multiply-adds x 2 of one sample's forward pass. */
  flops: number;
  /** Values per sample this layer keeps for the backward pass (its output, RNN states). */
  activations: number;
  /**
   * Recurrent layers: the time steps they run one after another (both directions of a
   * bidirectional layer). Each step is a handful of small kernel calls whose fixed cost
   * FLOPs do not show, and nothing can stop a batch between them.
   */
  sequentialSteps?: number;
}

const size = (shape: Shape) => shape.slice(1).reduce((a: number, d) => a * (d ?? 1), 1);
const last = (shape: Shape) => shape[shape.length - 1] ?? 1;
/** Positions a kernel is applied at: every axis but batch and channels. */
const positions = (shape: Shape) => shape.slice(1, -1).reduce((a: number, d) => a * (d ?? 1), 1);
const prod = (v: unknown, rank: number) =>
  Array.isArray(v) ? v.reduce((a: number, d: number) => a * d, 1) : (v as number) ** rank;

/** Trainable and non-trainable weights a layer allocates. */
function params(def: LayerDef, input: Shape): number {
  const a = def.args;
  const bias = (n: number) => (a.useBias === false ? 0 : n);
  const ci = last(input);
  switch (def.type) {
    case 'dense':
      return ci * (a.units as number) + bias(a.units as number);
    case 'conv1d':
    case 'conv2d':
    case 'conv2dTranspose': {
      const k = prod(a.kernelSize, def.type === 'conv1d' ? 1 : 2);
      return k * ci * (a.filters as number) + bias(a.filters as number);
    }
    case 'separableConv2d': {
      const dm = (a.depthMultiplier as number | undefined) ?? 1;
      return prod(a.kernelSize, 2) * ci * dm + ci * dm * (a.filters as number) + bias(a.filters as number);
    }
    case 'batchNormalization':
      return 4 * ci;
    case 'layerNormalization':
      return (a.center === false ? 0 : ci) + (a.scale === false ? 0 : ci);
    case 'embedding':
      return (a.inputDim as number) * (a.outputDim as number);
    case 'simpleRNN':
    case 'lstm':
    case 'gru': {
      const units = a.units as number;
      const gates = def.type === 'lstm' ? 4 : def.type === 'gru' ? 3 : 1;
      const biases = def.type === 'gru' && a.resetAfter ? 2 : 1;
      return gates * ((ci + units) * units + bias(biases * units));
    }
    case 'bidirectional':
      return 2 * params(def.wrapped!, input);
    case 'timeDistributed':
      return params(def.wrapped!, [input[0], ...input.slice(2)]);
    default:
      return 0;
  }
}

export function estimateLayer(def: LayerDef, inputs: Shape[], output: Shape): LayerEstimate {
  const input = inputs[0];
  const p = params(def, input);
  let flops = size(output);
  let activations = size(output);
  const steps = input[1] ?? 1;
  switch (def.type) {
    case 'dense':
    case 'conv1d':
    case 'conv2d':
    case 'separableConv2d':
      flops = 2 * p * positions(output);
      break;
    case 'conv2dTranspose':
      flops = 2 * p * positions(input);
      break;
    case 'simpleRNN':
    case 'lstm':
    case 'gru':
    case 'bidirectional':
      flops = 2 * p * steps;
      activations = steps * rnnStateValues(def.wrapped ?? def) * (def.type === 'bidirectional' ? 2 : 1);
      break;
    case 'timeDistributed':
      flops = 2 * p * steps;
      break;
  }
  const recurrent =
    def.type === 'simpleRNN' || def.type === 'lstm' || def.type === 'gru' || def.type === 'bidirectional';
  const sequentialSteps = recurrent ? steps * (def.type === 'bidirectional' ? 2 : 1) : undefined;
  return {
    name: def.name,
    type: def.type,
    params: p,
    flops,
    activations,
    ...(sequentialSteps ? { sequentialSteps } : {}),
  };
}

/** Values an RNN keeps per time step for backprop: its gates and state. */
const rnnStateValues = (def: LayerDef) =>
  (def.args.units as number) * (def.type === 'lstm' ? 6 : def.type === 'gru' ? 4 : 1);

export interface CostEstimate {
  /** Forward pass of one sample. */
  flopsPerSample: number;
  /** One training step on one sample (forward + backward is about 3x forward). */
  trainFlopsPerSample: number;
  /** Bytes one training step on a batch needs: weights, gradients, optimizer state, activations. */
  memoryPerBatchBytes: number;
  /** One training step on a whole batch. */
  trainFlopsPerBatch: number;
  /** Recurrent time steps one training step runs one after another, summed over the layers. */
  sequentialStepsPerBatch: number;
  batchSize: number;
}

/** Optimizer slots per weight: rmsprop 1-2, adam 2, ... */
const SLOTS: Record<string, number> = { sgd: 0, momentum: 1, rmsprop: 2, adam: 2, adamax: 2, adagrad: 1, adadelta: 2 };

export function estimateCost(
  estimates: LayerEstimate[],
  inputValues: number,
  batchSize: number,
  optimizer: string,
): CostEstimate {
  const flopsPerSample = estimates.reduce((a, e) => a + e.flops, 0);
  const weights = estimates.reduce((a, e) => a + e.params, 0);
  const activations = inputValues + estimates.reduce((a, e) => a + e.activations, 0);
  // float32 weights + gradients + optimizer slots; each activation is kept and gets a gradient.
  const memoryPerBatchBytes = 4 * weights * (2 + (own(SLOTS, optimizer) ?? 2)) + 4 * 2 * activations * batchSize;
  const sequentialStepsPerBatch = estimates.reduce((a, e) => a + (e.sequentialSteps ?? 0), 0);
  return {
    flopsPerSample,
    trainFlopsPerSample: 3 * flopsPerSample,
    memoryPerBatchBytes,
    trainFlopsPerBatch: 3 * flopsPerSample * batchSize,
    sequentialStepsPerBatch,
    batchSize,
  };
}
