import * as tf from '@tensorflow/tfjs';
import { onBackendMemory, type WasmBackend } from './wasm-module.ts';

/**
 * tfjs's RMSProp and Adam update each variable with 10-15 elementwise kernels, every one
 * allocating a full-size tensor (RMSProp even computes its new mean square twice). For the
 * MNIST network that is ~60 passes over 407k parameters, plus the scalars, per step. Here each
 * variable is updated by one kernel, registered for the wasm and cpu backends only, that
 * reads the variable, its slots and the gradient once and writes the three new tensors in a
 * single loop. Every intermediate is rounded to float32 exactly where the stock ops round
 * (an IEEE float32 op equals the double op rounded to float32), so the results are the stock
 * ones bit for bit. State (slot variables, their names and order, `iter`) stays the stock
 * optimizer's own, so getWeights/setWeights and checkpoints are unchanged. Other backends,
 * other dtypes, centered RMSProp: the stock method.
 */
const RMSPROP = 'TrainingFusedRMSProp';
const ADAM = 'TrainingFusedAdam';
const FUSED_BACKENDS = ['wasm', 'cpu'];

let enabled = true;
/** Switches the fused updates off (stock tfjs) and on, for comparisons in tests and benchmarks. */
export function setFusedOptimizerUpdates(on: boolean, options: { simd?: boolean } = {}): void {
  enabled = on;
  simdAllowed = options.simd ?? true;
}
let simdAllowed = true;

const fround = Math.fround;

/** Per-optimizer constants, already float32 as the stock scalar tensors hold them. */
type Scalars = number[];

interface RMSPropAttrs {
  decay: number;
  momentum: number;
  learningRate: number;
  epsilon: number;
}

/** [decay, 1 - decay, momentum, lr, eps] */
const rmspropScalars = (a: RMSPropAttrs): Scalars =>
  [a.decay, 1 - a.decay, a.momentum, a.learningRate, a.epsilon].map(fround);

function rmspropLoop(
  v: Float32Array,
  s: Float32Array,
  m: Float32Array,
  g: Float32Array,
  ov: Float32Array,
  os: Float32Array,
  om: Float32Array,
  c: Scalars,
) {
  const [decay, keep, momentum, lr, eps] = c;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    // add(mul(ms, decay), mul(square(g), 1 - decay))
    const si = fround(fround(s[i] * decay) + fround(fround(gi * gi) * keep));
    // add(mul(mom, momentum), div(mul(g, lr), sqrt(add(ms', eps))))
    const mi = fround(fround(m[i] * momentum) + fround(fround(gi * lr) / fround(Math.sqrt(fround(si + eps)))));
    os[i] = si;
    om[i] = mi;
    ov[i] = v[i] - mi; // sub(value, mom'), rounded by the store
  }
}

interface AdamAttrs {
  beta1: number;
  beta2: number;
  learningRate: number;
  epsilon: number;
  /** 1 - accBeta1 and 1 - accBeta2 as the stock optimizer computes them (float32). */
  correction1: number;
  correction2: number;
}

/** [beta1, 1 - beta1, beta2, 1 - beta2, 1 - accBeta1, 1 - accBeta2, eps, -lr] */
const adamScalars = (a: AdamAttrs): Scalars =>
  [a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.correction1, a.correction2, a.epsilon, -a.learningRate].map(fround);

function adamLoop(
  v: Float32Array,
  m: Float32Array,
  s: Float32Array,
  g: Float32Array,
  ov: Float32Array,
  om: Float32Array,
  os: Float32Array,
  c: Scalars,
) {
  const [b1, k1, b2, k2, c1, c2, eps, step] = c;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    const mi = fround(fround(m[i] * b1) + fround(gi * k1));
    const si = fround(fround(s[i] * b2) + fround(fround(gi * gi) * k2));
    const mHat = fround(mi / c1);
    const sHat = fround(si / c2);
    // add(mul(div(mHat, add(sqrt(sHat), eps)), -lr), value)
    const update = fround(fround(mHat / fround(fround(Math.sqrt(sHat)) + eps)) * step);
    om[i] = mi;
    os[i] = si;
    ov[i] = update + v[i];
  }
}

/**
 * The same two loops as a WebAssembly SIMD module (fused-optimizers.wat; see wasm-module.ts)
 * that imports the wasm backend's own memory,
 * so it runs on the tensors in place: f32x4 ops, float32 like the stock kernels (no FMA). A
 * JS loop computes in doubles, and its scalar division and square root cost more than the
 * stock kernels' 15 SIMD passes (see docs/performance.md), so wasm without the
 * module (a runtime without WebAssembly SIMD) keeps the stock updates; on the cpu backend,
 * whose kernels are JS loops too, the loop pays.
 */
type SimdExports = Record<'rmsprop' | 'adam', (...args: number[]) => void>;
const simdFor = (backend: WasmBackend) => onBackendMemory<SimdExports>('fused-optimizers', backend);

type Loop = (
  ...args: [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Scalars]
) => void;
type CpuBackend = tf.KernelBackend & {
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
};

/** Inputs: the variable, its two slots, the gradient; outputs: the three new values. */
function kernel(
  name: string,
  backendName: string,
  loop: Loop,
  simdName: keyof SimdExports,
  scalarsOf: (attrs: never) => Scalars,
): tf.KernelConfig {
  const keys = ['value', 'slot1', 'slot2', 'grad'];
  const kernelFunc: tf.KernelConfig['kernelFunc'] = ({ inputs, backend, attrs }) => {
    const ins = keys.map((k) => inputs[k] as tf.TensorInfo);
    const shape = ins[0].shape;
    const scalars = scalarsOf(attrs as never);
    if (backendName === 'wasm') {
      const wasm = backend as WasmBackend;
      // Allocate first: growing the heap detaches earlier views of it.
      const outs = [0, 1, 2].map(() => wasm.makeOutput(shape, 'float32'));
      const fast = simdAllowed ? simdFor(wasm) : undefined;
      if (fast) {
        const pointers = [...ins, ...outs].map((t) => wasm.getMemoryOffset(t.dataId));
        fast[simdName](...pointers, tf.util.sizeFromShape(shape), ...scalars);
      } else {
        // float32 only (the kernel is registered for float32 variables).
        const [v, a, b, g] = ins.map((t) => wasm.typedArrayFromHeap(t) as Float32Array);
        const [ov, oa, ob] = outs.map((t) => wasm.typedArrayFromHeap(t) as Float32Array);
        loop(v, a, b, g, ov, oa, ob, scalars);
      }
      return outs;
    }
    const cpu = backend as CpuBackend;
    const [v, a, b, g] = ins.map((t) => cpu.readSync(t.dataId) as Float32Array);
    const [ov, oa, ob] = [0, 1, 2].map(() => new Float32Array(g.length));
    loop(v, a, b, g, ov, oa, ob, scalars);
    return [ov, oa, ob].map((values) => cpu.makeTensorInfo(shape, 'float32', values));
  };
  return { kernelName: name, backendName, kernelFunc };
}

/**
 * Registers the fused kernels for wasm and cpu (called by `installAccelerations`, never at
 * import: with TFJS_ACCELERATION=off they do not exist). Kernels are registered globally, so
 * a replaced backend instance keeps them; later calls do nothing.
 */
export function registerFusedOptimizerKernels(): void {
  for (const backendName of FUSED_BACKENDS) {
    if (!tf.getKernel(RMSPROP, backendName))
      tf.registerKernel(kernel(RMSPROP, backendName, rmspropLoop, 'rmsprop', rmspropScalars));
    if (!tf.getKernel(ADAM, backendName)) tf.registerKernel(kernel(ADAM, backendName, adamLoop, 'adam', adamScalars));
  }
}

/** Removes the fused kernels: optimizers wrapped before take the stock path from then on (see `fusable`). */
export function unregisterFusedOptimizerKernels(): void {
  for (const backendName of FUSED_BACKENDS) {
    for (const name of [RMSPROP, ADAM]) if (tf.getKernel(name, backendName)) tf.unregisterKernel(name, backendName);
  }
}

type Slot = { originalName: string; variable: tf.Variable };
type Grads = tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[];

interface RMSPropState {
  learningRate: number;
  decay: number;
  momentum: number;
  epsilon: number;
  centered: boolean;
  accumulatedMeanSquares: Slot[];
  accumulatedMoments: Slot[];
  incrementIterations(): void;
}

interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
  incrementIterations(): void;
}

const names = (grads: Grads) => (Array.isArray(grads) ? grads.map((g) => g.name) : Object.keys(grads));
const gradientOf = (grads: Grads, name: string, i: number) => (Array.isArray(grads) ? grads[i].tensor : grads[name]);
const slot = (name: string, value: tf.Variable): Slot => ({
  originalName: name,
  variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
});

/** The fused kernel applies when it is registered for the current backend and every tensor is float32. */
function fusable(kernelName: string, grads: Grads): boolean {
  if (!enabled || !tf.getKernel(kernelName, tf.getBackend())) return false;
  // On wasm only the SIMD module pays (the JS loop is slower than the stock kernels there).
  if (tf.getBackend() === 'wasm' && !(simdAllowed && simdFor(tf.backend() as WasmBackend))) return false;
  return names(grads).every((name, i) => {
    const g = gradientOf(grads, name, i);
    const v = tf.engine().registeredVariables[name];
    return (g == null || g.dtype === 'float32') && v?.dtype === 'float32';
  });
}

/** Runs the fused kernel and assigns its outputs, as the stock tidy + assign does. */
function update(
  kernelName: string,
  value: tf.Variable,
  slot1: tf.Variable,
  slot2: tf.Variable,
  grad: tf.Tensor,
  attrs: object,
) {
  const [v, a, b] = tf
    .engine()
    .runKernel(kernelName, { value, slot1, slot2, grad }, attrs as tf.NamedAttrMap) as tf.Tensor[];
  slot1.assign(a);
  slot2.assign(b);
  value.assign(v);
  tf.dispose([v, a, b]);
}

/**
 * Makes `optimizer` update each variable in one pass where it can (RMSProp without
 * `centered`, Adam, on wasm and cpu); returns it. Other optimizers are returned unchanged.
 */
export function fuseOptimizerUpdates<T extends tf.Optimizer>(optimizer: T): T {
  // The exact classes: tfjs's `instanceof` for optimizers is duck-typed (an Adam is an RMSProp).
  const cls = Object.getPrototypeOf(optimizer);
  if (cls === tf.RMSPropOptimizer.prototype) {
    const stock = optimizer.applyGradients.bind(optimizer);
    const o = optimizer as unknown as RMSPropState;
    optimizer.applyGradients = (grads: Grads) => {
      if (o.centered || !fusable(RMSPROP, grads)) return stock(grads);
      names(grads).forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        o.accumulatedMeanSquares[i] ??= slot(`${name}/rms`, value);
        o.accumulatedMoments[i] ??= slot(`${name}/momentum`, value);
        const grad = gradientOf(grads, name, i);
        if (grad == null) return;
        const attrs: RMSPropAttrs = {
          decay: o.decay,
          momentum: o.momentum,
          learningRate: o.learningRate,
          epsilon: o.epsilon,
        };
        update(RMSPROP, value, o.accumulatedMeanSquares[i].variable, o.accumulatedMoments[i].variable, grad, attrs);
      });
      o.incrementIterations();
    };
  } else if (cls === tf.AdamOptimizer.prototype) {
    const stock = optimizer.applyGradients.bind(optimizer);
    const o = optimizer as unknown as AdamState;
    optimizer.applyGradients = (grads: Grads) => {
      if (!fusable(ADAM, grads)) return stock(grads);
      // sub(1, accBeta): float32 values, so the double difference rounded is the float32 one.
      const correction1 = fround(1 - o.accBeta1.dataSync()[0]);
      const correction2 = fround(1 - o.accBeta2.dataSync()[0]);
      names(grads).forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        o.accumulatedFirstMoment[i] ??= slot(`${name}/m`, value);
        o.accumulatedSecondMoment[i] ??= slot(`${name}/v`, value);
        const grad = gradientOf(grads, name, i);
        if (grad == null) return;
        const attrs: AdamAttrs = {
          beta1: o.beta1,
          beta2: o.beta2,
          learningRate: o.learningRate,
          epsilon: o.epsilon,
          correction1,
          correction2,
        };
        update(ADAM, value, o.accumulatedFirstMoment[i].variable, o.accumulatedSecondMoment[i].variable, grad, attrs);
      });
      tf.tidy(() => {
        o.accBeta1.assign(tf.mul(o.accBeta1, o.beta1));
        o.accBeta2.assign(tf.mul(o.accBeta2, o.beta2));
      });
      o.incrementIterations();
    };
  }
  return optimizer;
}
