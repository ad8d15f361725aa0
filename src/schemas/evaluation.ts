import { Type } from '@sinclair/typebox';

export const ClassReport = Type.Object({
  class: Type.String({ description: 'class name, or its index for numeric labels' }),
  precision: Type.Number(),
  recall: Type.Number(),
  f1: Type.Number(),
  support: Type.Integer({ description: 'test samples of this class' }),
});

/**
 * The evaluation of a trained model on its test split: tfjs's metrics (`loss`, `acc`, ...)
 * as numbers, plus for classifiers a confusion matrix and per-class precision/recall/F1, and
 * for regressors MSE, MAE and R².
 */
export const Evaluation = Type.Object(
  {
    classes: Type.Optional(Type.Array(Type.String(), { description: 'row/column order of the confusion matrix' })),
    confusionMatrix: Type.Optional(
      Type.Array(Type.Array(Type.Integer()), { description: 'rows: true class, columns: predicted class' }),
    ),
    perClass: Type.Optional(Type.Array(ClassReport)),
  },
  {
    additionalProperties: Type.Number(),
    description: 'metric -> value (loss, acc, accuracy, macroF1, mse, mae, r2, ...), plus the classifier report',
  },
);

export interface ClassReport {
  class: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Hand-written: TypeBox's Static does not carry the numeric index signature. */
export interface EvaluationReport {
  [metric: string]: number | string[] | number[][] | ClassReport[] | undefined;
  classes?: string[];
  confusionMatrix?: number[][];
  perClass?: ClassReport[];
}
