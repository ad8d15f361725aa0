import * as tf from '@tensorflow/tfjs';

/**
 * The wasm backend (tfjs 4.22) lacks some kernels that gradients need: Conv2DBackpropFilter
 * (every conv2d/conv1d/conv2dTranspose), the depthwise backprops (separableConv2d) and
 * UnsortedSegmentSum (the gradient of Gather, i.e. of embedding). `fit` of such a model
 * used to throw mid-training. Two fixes, installed once per process:
 *
 * 1. The Conv2D gradient computes the filter gradient on wasm as one matrix product
 *    (im2col of the input, transposed, times dy): fast, and only ops wasm has.
 * 2. Any other missing kernel is bridged: its inputs are copied to the plain-JS cpu
 *    backend, the cpu kernel runs, and the outputs are copied back. Slower, but correct.
 */
const BRIDGED = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
  'Einsum',
];

let installed = false;

export function installWasmGradients(): void {
  if (installed || !tf.findBackend('wasm')) return;
  installed = true;
  for (const name of BRIDGED) {
    if (tf.getKernel(name, 'wasm')) continue;
    const cpuKernel = tf.getKernel(name, 'cpu');
    if (cpuKernel) tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: bridge(cpuKernel.kernelFunc) });
  }
  overrideConv2DGradient();
}

/** Kernels of the wasm backend that are bridged to cpu (for reports and tests). */
export const bridgedKernels = () => BRIDGED.filter((k) => tf.getKernel(k, 'wasm') && installed);

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
      if (dilations.some((d) => d !== 1)) throw new Error('gradients of conv2d with dilation rates above 1 are not supported by tfjs');
      const kernelAttrs = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat, dimRoundingMode: a.dimRoundingMode };
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dy4, filter }, { ...kernelAttrs, inputShape: x.shape } as never) as tf.Tensor,
        filter: () =>
          tf.getBackend() === 'wasm' && a.dataFormat === 'NHWC'
            ? filterGradient(x, dy4, filter.shape, a)
            : (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dy4 }, { ...kernelAttrs, filterShape: filter.shape } as never) as tf.Tensor),
      };
    },
  });
}

/** dW[kh, kw, ci, co] = sum over batch and positions of x-patch * dy, as im2col(x)^T . dy. */
function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], a: Conv2DAttrs): tf.Tensor {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, a.strides, a.dilations, a.pad, a.dimRoundingMode, false, 'channelsLast');
    const [kh, kw, ci, co] = filterShape;
    const { top, bottom, left, right } = info.padInfo;
    const padded = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    const b = x.shape[0];
    const perSample = info.outHeight * info.outWidth * kh * kw * ci;
    const chunk = Math.max(1, Math.floor(MAX_COLUMN_ELEMENTS / perSample));
    let total: tf.Tensor | undefined;
    for (let start = 0; start < b; start += chunk) {
      const n = Math.min(chunk, b - start);
      const part = chunkGradient(padded.slice([start, 0, 0, 0], [n, -1, -1, -1]), dy.slice([start, 0, 0, 0], [n, -1, -1, -1]), info, kh, kw, ci, co);
      total = total ? tf.add(total, part) : part;
    }
    return total!.reshape(filterShape);
  });
}

function chunkGradient(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo, kh: number, kw: number, ci: number, co: number) {
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const n = x.shape[0];
  const patches: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const begin = [0, i * dh, j * dw, 0];
      const end = [n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, ci];
      patches.push(sh === 1 && sw === 1 ? tf.slice(x, begin, [n, oh, ow, ci]) : tf.stridedSlice(x, begin, end, [1, sh, sw, 1]));
    }
  }
  const columns = (patches.length === 1 ? patches[0] : tf.concat(patches, 3)).reshape([n * oh * ow, kh * kw * ci]);
  return tf.matMul(columns, dy.reshape([n * oh * ow, co]), true, false);
}
