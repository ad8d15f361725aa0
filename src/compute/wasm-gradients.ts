import * as tf from '@tensorflow/tfjs';

/**
 * The wasm backend (tfjs 4.22) lacks some kernels that gradients need: Conv2DBackpropFilter
 * (every conv2d/conv1d/conv2dTranspose), the depthwise backprops (separableConv2d) and
 * UnsortedSegmentSum (the gradient of Gather, i.e. of embedding). `fit` of such a model
 * used to throw mid-training. Two fixes, installed once per process:
 *
 * 1. The Conv2D gradient is computed on wasm with wasm's fast (XNNPACK) forward conv2d:
 *    the filter gradient is a convolution of the input by dy (batch and channels swapped),
 *    the input gradient a 'full' convolution of dy by the flipped filter: many times faster
 *    than im2col with a transposed matmul or wasm's own Conv2DBackpropInput (figures in
 *    docs/performance.md). Strided convs and small patches use im2col with the columns built
 *    transposed (a plain matmul).
 * 2. Every other kernel the cpu backend has and wasm lacks is bridged: its inputs are
 *    copied to the plain-JS cpu backend, the cpu kernel runs, and the outputs are copied
 *    back. Slower, but correct, so no model dies mid-fit for want of a kernel. (Only
 *    complex-number and string kernels are left out: no layer uses them.)
 *
 * Not accelerations: what training on wasm needs (with the bridge alone, conv models train
 * too slowly to be of use), and both run stock tfjs kernels only. So they are installed on
 * wasm whatever TFJS_ACCELERATION says, by the same backend-start call as the accelerations
 * (`installAccelerations`), before any model can be fitted.
 */
const NOT_BRIDGED = new Set([
  'Complex',
  'ComplexAbs',
  'Real',
  'Imag',
  'FFT',
  'IFFT',
  'RFFT',
  'IRFFT',
  'Draw',
  'StaticRegexReplace',
  'StringNGrams',
  'StringSplit',
  'StringToHashBucketFast',
]);
const bridged: string[] = [];

let installed = false;

export function installWasmGradients(): void {
  if (installed || !tf.findBackend('wasm')) return;
  installed = true;
  for (const cpuKernel of tf.getKernelsForBackend('cpu')) {
    const name = cpuKernel.kernelName;
    if (NOT_BRIDGED.has(name) || tf.getKernel(name, 'wasm')) continue;
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: bridge(cpuKernel.kernelFunc) });
    bridged.push(name);
  }
  overrideConv2DGradient();
}

/** Kernels of the wasm backend that are bridged to cpu (for reports and tests). */
export const bridgedKernels = () => [...bridged];

type KernelFunc = tf.KernelConfig['kernelFunc'];

function bridge(cpuKernel: KernelFunc): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const cpu = tf.findBackend('cpu') as tf.KernelBackend;
    const wasm = backend as tf.KernelBackend;
    const moved: Record<string, tf.TensorInfo> = {};
    for (const [key, info] of Object.entries(inputs)) {
      if (!info) continue;
      const values = wasm.readSync(info.dataId) as tf.TypedArray;
      moved[key] = { dataId: cpu.write(values.slice(), info.shape, info.dtype), shape: info.shape, dtype: info.dtype };
    }
    try {
      const result = cpuKernel({ inputs: moved, backend: cpu, attrs });
      const outputs = Array.isArray(result) ? result : [result];
      const back = outputs.map((out) => {
        const values = cpu.readSync(out.dataId) as tf.TypedArray;
        cpu.disposeData(out.dataId);
        return { dataId: wasm.write(values, out.shape, out.dtype), shape: out.shape, dtype: out.dtype };
      });
      return Array.isArray(result) ? back : back[0];
    } finally {
      for (const info of Object.values(moved)) cpu.disposeData(info.dataId);
    }
  };
}

/** Elements of the im2col matrix built at once; larger batches are done in chunks and summed. */
const MAX_COLUMN_ELEMENTS = 16 * 1024 * 1024;

/**
 * Patches of at most this many values (kh*kw*ci) take the im2col matmul for the filter
 * gradient, larger ones the convolution: each wins on its side of this size (MNIST's first
 * conv, 3x3x1, and its second, 3x3x32; figures in docs/performance.md).
 */
const SMALL_PATCH = 64;

interface Conv2DAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function overrideConv2DGradient() {
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const a = attrs as unknown as Conv2DAttrs;
      const dy4 = dy as tf.Tensor4D;
      const dilations = [a.dilations].flat();
      if (dilations.some((d) => d !== 1))
        throw new Error('gradients of conv2d with dilation rates above 1 are not supported by tfjs');
      const kernelAttrs = {
        strides: a.strides,
        pad: a.pad,
        dataFormat: a.dataFormat,
        dimRoundingMode: a.dimRoundingMode,
      };
      const fast = tf.getBackend() === 'wasm' && a.dataFormat === 'NHWC';
      const unitStride = [a.strides].flat().every((st) => st === 1);
      return {
        x: () =>
          fast && unitStride
            ? inputGradientByConv(x, dy4, filter, a)
            : (tf.engine().runKernel('Conv2DBackpropInput', { dy: dy4, filter }, {
                ...kernelAttrs,
                inputShape: x.shape,
              } as never) as tf.Tensor),
        filter: () =>
          fast
            ? unitStride && filter.shape[0] * filter.shape[1] * filter.shape[2] > SMALL_PATCH
              ? filterGradientByConv(x, dy4, filter.shape, a)
              : filterGradient(x, dy4, filter.shape, a)
            : (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dy4 }, {
                ...kernelAttrs,
                filterShape: filter.shape,
              } as never) as tf.Tensor),
      };
    },
  });
}

const padInfo = (x: tf.Tensor4D, filterShape: [number, number, number, number], a: Conv2DAttrs) =>
  tf.backend_util.computeConv2DInfo(
    x.shape,
    filterShape,
    a.strides,
    a.dilations,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  ).padInfo;

/** Stride 1: dW = conv(x^T, dy^T) with batch as the channels: [ci, H, W, b] * [oh, ow, b, co] -> [ci, kh, kw, co]. */
function filterGradientByConv(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  a: Conv2DAttrs,
): tf.Tensor {
  return tf.tidy(() => {
    const { top, bottom, left, right } = padInfo(x, filterShape, a);
    const padded =
      top || bottom || left || right
        ? tf.pad(x, [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ])
        : x;
    const out = tf.conv2d(
      padded.transpose([3, 1, 2, 0]) as tf.Tensor4D,
      dy.transpose([1, 2, 0, 3]) as tf.Tensor4D,
      1,
      'valid',
    );
    return out.transpose([1, 2, 0, 3]);
  });
}

/** Stride 1: dx = the 'full' convolution of dy by the filter turned 180 degrees, in and out channels swapped. */
function inputGradientByConv(x: tf.Tensor4D, dy: tf.Tensor4D, filter: tf.Tensor4D, a: Conv2DAttrs): tf.Tensor {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape;
    const { top, bottom, left, right } = padInfo(x, filter.shape, a);
    const flipped = tf.reverse(filter, [0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D;
    const pad = [
      [0, 0],
      [kh - 1 - top, kh - 1 - bottom],
      [kw - 1 - left, kw - 1 - right],
      [0, 0],
    ] as [[number, number], [number, number], [number, number], [number, number]];
    return tf.conv2d(dy, flipped, 1, pad);
  });
}

/** dW[kh, kw, ci, co] = sum over batch and positions of x-patch * dy, as im2col(x)^T . dy (any stride). */
function filterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  a: Conv2DAttrs,
): tf.Tensor {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filterShape,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      false,
      'channelsLast',
    );
    const [kh, kw, ci, co] = filterShape;
    const { top, bottom, left, right } = info.padInfo;
    const padded =
      top || bottom || left || right
        ? tf.pad(x, [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ])
        : x;
    const b = x.shape[0];
    const perSample = info.outHeight * info.outWidth * kh * kw * ci;
    const chunk = Math.max(1, Math.floor(MAX_COLUMN_ELEMENTS / perSample));
    let total: tf.Tensor | undefined;
    for (let start = 0; start < b; start += chunk) {
      const n = Math.min(chunk, b - start);
      const part = chunkGradient(
        padded.slice([start, 0, 0, 0], [n, -1, -1, -1]),
        dy.slice([start, 0, 0, 0], [n, -1, -1, -1]),
        info,
        kh,
        kw,
        ci,
        co,
      );
      total = total ? tf.add(total, part) : part;
    }
    return total!.reshape(filterShape);
  });
}

/**
 * The columns are built already transposed, [kh*kw*ci, n*oh*ow], from x as [ci, n, H, W], so
 * the product is a plain matmul: wasm's transposed forms are many times slower.
 */
function chunkGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  info: tf.backend_util.Conv2DInfo,
  kh: number,
  kw: number,
  ci: number,
  co: number,
) {
  const {
    outHeight: oh,
    outWidth: ow,
    strideHeight: sh,
    strideWidth: sw,
    dilationHeight: dh,
    dilationWidth: dw,
  } = info;
  const n = x.shape[0];
  const channelsFirst = x.transpose([3, 0, 1, 2]);
  const rows: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const begin = [0, 0, i * dh, j * dw];
      const patch =
        sh === 1 && sw === 1
          ? tf.slice(channelsFirst, begin, [ci, n, oh, ow])
          : tf.stridedSlice(
              channelsFirst,
              begin,
              [ci, n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1],
              [1, 1, sh, sw],
            );
      rows.push(patch.reshape([ci, n * oh * ow]));
    }
  }
  const columns = rows.length === 1 ? rows[0] : tf.concat(rows, 0);
  return tf.matMul(columns, dy.reshape([n * oh * ow, co]));
}
