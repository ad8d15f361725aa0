import { badRequest, type FieldError } from '../errors.ts';
import type { DataSpec, TextSpec } from '../schemas/job-request.ts';
import type { ColumnInfo, DatasetMeta } from './dataset-meta.ts';
import { featureWidth } from './ingest.ts';
import { textSettings, textWidth, type TextSettings } from './text-vectorizer.ts';

/**
 * The options of `data.text` that contradict each other, whatever the dataset: a 400 naming
 * the field. Keras pads or truncates only when output_sequence_length is set, and otherwise
 * pads to the longest document of each batch; a model of fixed input shape needs the length,
 * so int mode requires it, and the other modes (one value per vocabulary slot) refuse it.
 */
export function checkTextSpec(text: TextSpec) {
  const settings = textSettings(text);
  const at = '/data/text/outputSequenceLength';
  if (settings.mode === 'int' && settings.outputSequenceLength === undefined)
    throw badRequest(`${at} is required in int mode`, [
      { path: at, message: 'is required in int mode (the default mode): every document is padded or cut to it' },
    ]);
  if (settings.mode !== 'int' && settings.outputSequenceLength !== undefined)
    throw badRequest(`${at} applies to int mode only`, [
      {
        path: at,
        message: `applies to int mode only; mode ${settings.mode} gives maxTokens (${settings.maxTokens}) values per document`,
      },
    ]);
}

/** The text column `data.text` names, checked against the dataset; its problems go to `errors`. */
export function checkText(
  meta: DatasetMeta,
  spec: DataSpec,
  labelName: string,
  where: string,
  errors: FieldError[],
): { column: ColumnInfo; settings: TextSettings } | undefined {
  checkTextSpec(spec.text!);
  const settings = textSettings(spec.text!);
  const at = `${where}/text/column`;
  const column = meta.columns.find((c) => c.name === settings.column);
  const textColumns = meta.columns.filter((c) => c.type === 'text').map((c) => c.name);
  const known = textColumns.length > 0 ? `its text columns are ${textColumns.join(', ')}` : 'it has no text column';
  if (!column) {
    errors.push({ path: at, message: `dataset ${meta.id} has no column ${JSON.stringify(settings.column)}; ${known}` });
    return undefined;
  }
  if (column.type !== 'text') {
    errors.push({
      path: at,
      message: `column ${JSON.stringify(column.name)} is ${column.type}, not text: upload the dataset with the option text=${column.name}`,
    });
    return undefined;
  }
  if (column.name === labelName) {
    errors.push({ path: at, message: `column ${JSON.stringify(column.name)} is the label` });
    return undefined;
  }
  return { column, settings };
}

/** One sample as the model sees it: the text's values, then the other feature columns'. */
export const textShape = (settings: TextSettings, features: ColumnInfo[]) => [
  textWidth(settings) + features.reduce((n, c) => n + featureWidth(c), 0),
];
