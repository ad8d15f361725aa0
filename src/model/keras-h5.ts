import h5wasm, { type Dataset, type Group } from 'h5wasm/node';
import { AppError } from '../errors.ts';
import type { LayerWeights } from './keras-weights.ts';

/**
 * Keras 2 / tf.keras HDF5 files (`model.save("m.h5")`), read and written with h5wasm (HDF5
 * compiled to WebAssembly: no native build, no Python). The layout: root attributes
 * `model_config` (the model's JSON), `keras_version`, `backend`; a group `model_weights` whose
 * attribute `layer_names` lists the layers in order, each a group whose `weight_names` attribute
 * lists its weights in Keras's order, each a float dataset at that path inside the layer's group.
 */

export interface KerasH5 {
  /** The parsed `model_config` attribute (snake_case, as Keras wrote it). */
  config: unknown;
  layers: LayerWeights[];
  /** This service's transforms (TRANSFORMS_ATTRIBUTE), when the file is one of its exports; unchecked. */
  transforms?: unknown;
}

/** A root attribute Keras ignores, which carries a model's input transforms through an export and back. */
export const TRANSFORMS_ATTRIBUTE = 'training_service_transforms';

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Whether the first bytes of a file are HDF5's signature (at offset 0, where every writer of Keras files puts it). */
export const isHdf5 = (head: Buffer) => head.subarray(0, 8).equals(SIGNATURE);

const corrupt = (message: string) =>
  new AppError(400, 'invalid_model_file', `/file is not a readable Keras HDF5 file: ${message}`, [
    { path: '/file', message },
  ]);

const strings = (value: unknown): string[] => {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map(String);
  return [];
};

/** Opens an HDF5 file for reading; one HDF5 cannot open is a 400 (corrupt) naming `what`. */
async function openH5(file: string, what: string): Promise<InstanceType<typeof h5wasm.File>> {
  await h5wasm.ready;
  let h5: InstanceType<typeof h5wasm.File>;
  try {
    h5 = new h5wasm.File(file, 'r');
  } catch (err) {
    throw corrupt((err as Error).message);
  }
  if (h5.file_id < 0n) throw corrupt(`HDF5 could not open ${what}`);
  return h5;
}

export async function readKerasH5(file: string): Promise<KerasH5> {
  const h5 = await openH5(file, 'it');
  try {
    const rawConfig = h5.attrs.model_config?.value;
    if (typeof rawConfig !== 'string') throw corrupt('it has no model_config attribute (saved with save_weights?)');
    let config: unknown;
    try {
      config = JSON.parse(rawConfig);
    } catch (err) {
      throw corrupt(`model_config is not JSON: ${(err as Error).message}`);
    }
    // model.save() puts the weights under model_weights; save_weights() at the root.
    const root = (h5.get('model_weights') ?? h5) as Group;
    if (!(root instanceof h5wasm.Group)) throw corrupt('model_weights is not a group');
    const layers: LayerWeights[] = [];
    for (const layer of listAttribute(root, 'layer_names')) {
      const group = root.get(layer);
      if (!(group instanceof h5wasm.Group)) throw corrupt(`layer ${JSON.stringify(layer)} has no weights group`);
      const weights = listAttribute(group, 'weight_names').map((name) => {
        const dataset = group.get(name);
        if (!(dataset instanceof h5wasm.Dataset)) throw corrupt(`weight ${JSON.stringify(name)} is missing`);
        return { name, shape: dataset.shape ?? [], values: floats(dataset, name) };
      });
      layers.push({ layer, weights });
    }
    const transforms = h5.attrs[TRANSFORMS_ATTRIBUTE]?.value;
    return { config, layers, transforms: typeof transforms === 'string' ? parseOrNothing(transforms) : undefined };
  } finally {
    h5.close();
  }
}

/** Keras splits a list attribute over 64 KiB into `name0`, `name1`, ... (save_attributes_to_hdf5_group). */
function listAttribute(group: Group, name: string): string[] {
  if (group.attrs[name] !== undefined) return strings(group.attrs[name].value);
  const out: string[] = [];
  for (let i = 0; group.attrs[`${name}${i}`] !== undefined; i++) out.push(...strings(group.attrs[`${name}${i}`].value));
  return out;
}

/** Keras's `naming.to_snake_case`: `Conv2D` -> `conv2d`, `BatchNormalization` -> `batch_normalization`. */
export const kerasSnakeCase = (name: string) =>
  name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();

/** Where Keras 3 puts layers' variables: `layers/` (older Keras 3 writers: `_layer_checkpoint_dependencies/`). */
const KERAS3_ROOTS = ['layers', '_layer_checkpoint_dependencies'];

/**
 * A Keras 3 `model.weights.h5` (inside a `.keras` archive): each layer's variables at
 * `layers/<class in snake_case, numbered from _1 per class in layer order>/vars/<i>` (an
 * RNN's on `.../cell/vars/<i>`, a Bidirectional's forward layer before its backward one).
 * `layers` lists the model config's layers in order, by class and name.
 */
export async function readKeras3Weights(file: string, layers: { className: string; name: string }[]) {
  const h5 = await openH5(file, 'model.weights.h5');
  try {
    const root = KERAS3_ROOTS.map((r) => h5.get(r)).find((g) => g instanceof h5wasm.Group) as Group | undefined;
    const used = new Map<string, number>();
    const out: LayerWeights[] = [];
    for (const { className, name } of layers) {
      let key = kerasSnakeCase(className);
      const n = used.get(key);
      used.set(key, (n ?? -1) + 1);
      if (n !== undefined) key = `${key}_${n + 1}`;
      const group = root?.get(key);
      if (!(group instanceof h5wasm.Group)) continue;
      const weights = variables(group, '').map(([p, dataset]) => ({
        name: `${key}/${p}`,
        shape: dataset.shape ?? [],
        values: floats(dataset, p),
      }));
      out.push({ layer: name, weights });
    }
    return out;
  } finally {
    h5.close();
  }
}

/** The datasets under `vars/<i>` below a layer's group, in Keras's order. */
function variables(group: Group, prefix: string): [string, Dataset][] {
  const found: [string, Dataset][] = [];
  const keys = group.keys().sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  for (const key of keys) {
    const child = group.get(key);
    const p = prefix ? `${prefix}/${key}` : key;
    if (child instanceof h5wasm.Dataset) {
      if (prefix.endsWith('vars')) found.push([p, child]);
    } else if (child instanceof h5wasm.Group) found.push(...variables(child, p));
  }
  return found;
}

/** vars/0 before vars/1 before vars/10; a layer's own variables before its forward layer's before its backward layer's. */
const order = (key: string) =>
  /^\d+$/.test(key)
    ? Number(key)
    : key === 'vars'
      ? -3
      : key.startsWith('forward')
        ? -2
        : key.startsWith('backward')
          ? -1
          : 0;

const parseOrNothing = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

function floats(dataset: Dataset, name: string): Float32Array {
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array || (ArrayBuffer.isView(value) && !(value instanceof BigInt64Array)))
    return Float32Array.from(value as ArrayLike<number>);
  if (typeof value === 'number') return Float32Array.of(value);
  throw corrupt(`weight ${JSON.stringify(name)} is not a float array (${dataset.dtype})`);
}

/** Writes a Keras 2 HDF5 model file: `config` is the Keras model JSON (snake_case), weights in Keras's order. */
export async function writeKerasH5(
  file: string,
  config: unknown,
  layers: LayerWeights[],
  kerasVersion: string,
  transforms?: unknown,
) {
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  try {
    h5.create_attribute('model_config', JSON.stringify(config));
    h5.create_attribute('keras_version', kerasVersion);
    h5.create_attribute('backend', 'tensorflow');
    if (transforms !== undefined) h5.create_attribute(TRANSFORMS_ATTRIBUTE, JSON.stringify(transforms));
    const root = h5.create_group('model_weights');
    root.create_attribute(
      'layer_names',
      layers.map((l) => l.layer),
    );
    root.create_attribute('keras_version', kerasVersion);
    root.create_attribute('backend', 'tensorflow');
    for (const { layer, weights } of layers) {
      const group = root.create_group(layer);
      // An attribute of zero strings cannot be written; Keras writes an empty array, which readers take alike.
      group.create_attribute(
        'weight_names',
        weights.length > 0 ? weights.map((w) => w.name) : new Float32Array(0),
        weights.length > 0 ? null : [0],
      );
      for (const w of weights) {
        const parts = w.name.split('/');
        let parent = group;
        for (const part of parts.slice(0, -1)) parent = (parent.get(part) as Group | null) ?? parent.create_group(part);
        parent.create_dataset({ name: parts[parts.length - 1], data: w.values, shape: w.shape, dtype: '<f' });
      }
    }
  } finally {
    h5.close();
  }
}
