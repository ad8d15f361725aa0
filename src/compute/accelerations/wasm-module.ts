import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';

/**
 * Our own WebAssembly modules (the `.wat` files here, assembled into the `.wasm` beside them
 * by `npm run wasm`) import the wasm backend's memory and so work on its tensors in place.
 */

/** The WebAssembly global (this project's TypeScript lib settings do not declare it). */
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer | SharedArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

export type WasmBackend = tf.KernelBackend & {
  wasm?: { asm?: { memory?: unknown } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  getMemoryOffset(dataId: object): number;
};

const instances = new Map<string, { memory: unknown; exports: unknown | undefined }>();

/**
 * The exports of `src/compute/accelerations/<name>.wasm` instantiated on the backend's memory (once per
 * memory), or undefined where it cannot run.
 */
export function onBackendMemory<T>(name: string, backend: tf.KernelBackend): T | undefined {
  // Our modules import a plain (unshared) memory: any other kind keeps the stock kernels.
  const memory = (backend as WasmBackend).wasm?.asm?.memory;
  if (!(memory instanceof WA.Memory) || !(memory.buffer instanceof ArrayBuffer)) return undefined;
  let instance = instances.get(name);
  if (instance?.memory !== memory) {
    let exports: unknown;
    try {
      exports = new WA.Instance(new WA.Module(readFileSync(new URL(`./${name}.wasm`, import.meta.url))), {
        env: { memory },
      }).exports;
    } catch {
      exports = undefined; // e.g. a runtime without SIMD: the callers keep the stock kernels
    }
    instance = { memory, exports };
    instances.set(name, instance);
  }
  return instance.exports as T;
}
