import type { ModelSummary } from './build-model.ts';
import type { CompileSettings } from './compile.ts';
import type { LayerDef, ModelDef } from './model-spec.ts';

/** Flatten-then-Dense holding more than this many weights is the classic oversized head. */
const HUGE_DENSE_PARAMS = 1_000_000;

/**
 * What a practitioner reviewing the model would point out. These never block a job: the
 * model may be deliberate. They come back from the dry run and on the submitted job.
 */
export function modelWarnings(model: ModelDef, summary: ModelSummary, compile: CompileSettings): string[] {
  const warnings: string[] = [];
  const out = outputLayer(model);
  const activation = outputActivation(model, out);
  const units = summary.outputShape.at(-1) ?? 0;
  const name = `the output layer ${JSON.stringify(out.name)}`;
  const loss = compile.loss;
  if (loss === 'binaryCrossentropy' && activation === 'softmax') {
    warnings.push(
      units === 1
        ? `${name} has a softmax over one unit, which always outputs 1.0; use sigmoid for binary crossentropy`
        : `${name} uses softmax with binaryCrossentropy; for one label per sample use categoricalCrossentropy, for independent labels use sigmoid`,
    );
  }
  if ((loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy') && activation === 'sigmoid') {
    warnings.push(`${name} uses sigmoid with ${loss}, which expects probabilities that sum to 1; use softmax`);
  }
  if (loss === 'categoricalCrossentropy' && activation === 'softmax' && units === 1) {
    warnings.push(`${name} has a softmax over one unit, which always outputs 1.0`);
  }
  if (/Crossentropy$/.test(loss) && (activation === undefined || activation === 'linear')) {
    warnings.push(
      `${name} has no activation but ${loss} expects probabilities; add ${loss === 'binaryCrossentropy' ? 'sigmoid' : 'softmax'}`,
    );
  }
  if ((loss === 'meanSquaredError' || loss === 'meanAbsoluteError') && activation === 'softmax') {
    warnings.push(
      `${name} is a softmax classifier trained with ${loss}; categoricalCrossentropy usually trains much better`,
    );
  }
  warnings.push(...hugeDenseAfterFlatten(model, summary));
  return warnings;
}

function outputLayer(model: ModelDef): LayerDef {
  return model.graph
    ? model.layers.find((l) => l.name === model.graph!.output)!
    : model.layers[model.layers.length - 1];
}

/** The activation applied last: walks back past shape-only layers to the layer that computes. */
function outputActivation(model: ModelDef, out: LayerDef): string | undefined {
  const shapeOnly = new Set(['dropout', 'reshape', 'flatten', 'gaussianNoise', 'gaussianDropout']);
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  let layer: LayerDef | undefined = out;
  while (layer && shapeOnly.has(layer.type)) {
    layer = layer.inputs ? byName.get(layer.inputs[0]) : model.layers[model.layers.indexOf(layer) - 1];
  }
  if (!layer) return 'other';
  const own = (layer.wrapped ?? layer).args.activation as string | undefined;
  if (own !== undefined) return own;
  // Dense and conv layers default to linear; anything else (RNNs, merges, pooling) has its own.
  return ['dense', 'conv1d', 'conv2d', 'conv2dTranspose', 'separableConv2d'].includes((layer.wrapped ?? layer).type)
    ? undefined
    : 'other';
}

function hugeDenseAfterFlatten(model: ModelDef, summary: ModelSummary): string[] {
  const warnings: string[] = [];
  const byName = new Map(summary.layers.map((l) => [l.name, l]));
  model.layers.forEach((layer, i) => {
    if (layer.type !== 'dense') return;
    const from = layer.inputs?.[0] ?? model.layers[i - 1]?.name;
    const source = model.layers.find((l) => l.name === from);
    const params = byName.get(layer.name)?.params ?? 0;
    if (source?.type === 'flatten' && params > HUGE_DENSE_PARAMS) {
      const share = Math.round((100 * params) / Math.max(1, summary.totalParams));
      const features = byName.get(source.name)?.outputShape.at(-1);
      warnings.push(
        `the dense layer ${JSON.stringify(layer.name)} after flatten takes ${features} features and holds ${params.toLocaleString('en')} parameters (${share}% of the model); pool first (maxPooling2d, globalAveragePooling2d) or use fewer units`,
      );
    }
  });
  return warnings;
}
