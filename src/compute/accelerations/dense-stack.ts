import * as tf from '@tensorflow/tfjs';

/** A forward pass that takes and returns tensors, to be run inside `tf.tidy`. */
export type Forward = (input: tf.Tensor) => tf.Tensor;

/** What tfjs-layers' Dense keeps, typed here (its fields are private in the typings). */
interface DenseInternals {
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName(): string };
}

/**
 * For a Sequential model of Dense layers on flat inputs (an MLP, the common model here): its
 * forward pass as the same kernel calls `Dense.call` makes, without the layers framework
 * around them (`Layer.apply`, graph execution, a tidy per layer), a sizeable share of a
 * small model's pass on wasm (docs/performance.md). Undefined for any other model.
 * Mirrors tfjs-layers 4.x `Dense.call`: relu, linear and elu fused into the matmul with the
 * bias; any other activation after a plain matmul and a bias add.
 */
export function denseStack(model: tf.LayersModel): Forward | undefined {
  if (!(model instanceof tf.Sequential) || model.inputs.length !== 1 || model.inputs[0].shape.length !== 2)
    return undefined;
  if (model.layers.length === 0 || !model.layers.every((l) => l.getClassName() === 'Dense')) return undefined;
  const steps = model.layers.map((layer): Forward => {
    const [kernel, bias] = layer.getWeights() as [tf.Tensor2D, tf.Tensor1D | undefined];
    const { activation } = layer as unknown as DenseInternals;
    const fused = FUSED[activation.getClassName()];
    if (fused) return (x) => tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel, bias, activation: fused });
    return (x) => {
      const product = tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel });
      return activation.apply(bias ? tf.add(product, bias) : product);
    };
  });
  return (input) => steps.reduce((x, step) => step(x), input);
}

/** tfjs-layers' `mapActivationToFusedKernel`. */
const FUSED: Record<string, tf.fused.Activation | undefined> = { relu: 'relu', linear: 'linear', elu: 'elu' };
