import { AppError, type FieldError } from '../errors.ts';
import type { ModelSpec } from '../schemas/job-request.ts';
import { camelizeKeys } from './keras-names.ts';
import { describe, parseModel, type LayerDef, type ModelDef } from './model-spec.ts';

/** The request's `model` when it starts from another model: `from` plus what changes on top of it. */
export interface FineTuneSpec {
  from: string;
  pop?: number;
  add?: ModelSpec['layers'];
  freeze?: string[];
}

/** Whether a request's model starts from a stored or registered model. */
export const isFineTune = (model: ModelSpec): model is ModelSpec & FineTuneSpec => typeof model.from === 'string';

/**
 * The model a fine-tuning job trains: the parent's layers (from its stored topology, a tfjs
 * `modelTopology`), the top `pop` removed, the `add` layers stacked on what is left, the
 * `freeze` layers made untrainable. Errors name the request's fields (`/model/pop`,
 * `/model/add/0/units`, `/model/freeze/1`); the parent's own layers keep the paths of its topology.
 */
export function combineModel(parentTopology: unknown, spec: FineTuneSpec): ModelDef {
  const mixed = ['layers', 'className', 'config', 'inputs', 'outputs'].filter((k) => k in spec);
  if (mixed.length > 0) {
    const message = `cannot be combined with model.from (give the new layers in model.add)`;
    throw new AppError(400, 'invalid_model', `/model/${mixed[0]} ${message}`, [
      { path: `/model/${mixed[0]}`, message },
    ]);
  }
  const parent = parseModel(camelizeKeys(parentTopology) as ModelSpec, '/model/from');
  const pop = spec.pop ?? 0;
  if (pop >= parent.layers.length) {
    const message = `is ${pop} but the parent model has ${parent.layers.length} layers: at least one must stay`;
    throw new AppError(400, 'invalid_model', `/model/pop ${message}`, [{ path: '/model/pop', message }]);
  }
  const kept = parent.layers.slice(0, parent.layers.length - pop);
  const layers = [...kept, ...addedLayers(spec.add ?? [], kept, parent.layers, parent.graph !== undefined)];
  const errors: FieldError[] = [];
  for (const [i, name] of (spec.freeze ?? []).entries()) {
    const layer = layers.find((l) => l.name === name);
    if (layer) layer.args.trainable = false;
    else
      errors.push({
        path: `/model/freeze/${i}`,
        message: `no layer is named ${JSON.stringify(name)}; the model's layers are ${layers.map((l) => l.name).join(', ')}`,
      });
  }
  if (errors.length > 0) throw new AppError(400, 'invalid_model', describe(errors), errors);
  const graph = parent.graph && { ...parent.graph, output: layers[layers.length - 1].name };
  return { layers, graph, compile: parent.compile, warnings: parent.warnings };
}

/**
 * The `add` layers, parsed as a stack of their own and renamed where a generated name would
 * repeat a parent layer's (a name the request gave that repeats one is a 400). On a graph
 * parent each takes the one before it, the first the last kept layer.
 */
function addedLayers(
  add: NonNullable<FineTuneSpec['add']>,
  kept: LayerDef[],
  all: LayerDef[],
  graph: boolean,
): LayerDef[] {
  if (add.length === 0) return [];
  const onPath = (p: string) => p.replace(/^\/model\/layers\//, '/model/add/');
  let parsed: ModelDef;
  try {
    parsed = parseModel({ layers: add }, '/model');
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    const errors = err.errors.map((e) => ({ ...e, path: onPath(e.path) }));
    throw new AppError(err.status, err.code, describe(errors), errors);
  }
  // Popped layers' names too: the worker gives the parent's weights to the layers that carry its names.
  const taken = new Set(all.map((l) => l.name));
  const errors: FieldError[] = [];
  let previous = kept[kept.length - 1].name;
  const layers = parsed.layers.map((l, i) => {
    const layer: LayerDef = { ...l, path: onPath(l.path) };
    if (taken.has(layer.name)) {
      if (typeof add[i].name === 'string')
        errors.push({
          path: `${layer.path}/name`,
          message: `the parent model has a layer named ${layer.name} (popped or not): choose another name`,
        });
      let n = kept.length + i + 1;
      while (taken.has(`${layer.type}_${n}`)) n++;
      layer.name = `${layer.type}_${n}`;
    }
    taken.add(layer.name);
    if (graph) layer.inputs = [previous];
    previous = layer.name;
    return layer;
  });
  if (errors.length > 0) throw new AppError(400, 'invalid_model', describe(errors), errors);
  return layers;
}
