import type { FieldError } from '../errors.ts';
import type { Transforms } from '../data/transforms.ts';
import type { ModelDef } from '../model/model-spec.ts';

/**
 * data.text in int mode gives token indices below maxTokens: an embedding layer with a
 * smaller inputDim would look rows up past its table (Keras asks input_dim >= max_tokens too).
 */
export function textModelErrors(model: ModelDef, t: Transforms): FieldError[] {
  const text = t.text;
  if (text?.mode !== 'int') return [];
  return model.layers.flatMap((layer) => {
    const inputDim = Number(layer.args.inputDim);
    if (layer.type !== 'embedding' || !(inputDim < text.maxTokens)) return [];
    return [
      {
        path: `${layer.path}/inputDim`,
        message: `is ${inputDim}, but data.text (int mode, maxTokens ${text.maxTokens}) gives token indices up to ${text.maxTokens - 1}: make it at least maxTokens`,
      },
    ];
  });
}
