import * as tf from '@tensorflow/tfjs';
import type { ClassReport, EvaluationReport } from '../schemas/evaluation.ts';

const CLASSIFICATION_LOSSES = ['categoricalCrossentropy', 'sparseCategoricalCrossentropy', 'binaryCrossentropy'];
/** Above this many classes the k x k matrix would bloat the job, its events and the model: per-class figures only. */
export const MAX_MATRIX_CLASSES = 100;

/**
 * Accumulates predictions and targets batch by batch (so it works for data streamed from
 * disk too) into a classification report (confusion matrix, per-class precision, recall,
 * F1) or a regression report (MSE, MAE, R²), depending on the loss.
 */
export class ReportAccumulator {
  private readonly classification: boolean;
  private matrix: number[][] | undefined;
  private n = 0;
  private sumSq = 0;
  private sumAbs = 0;
  private sumY: number[] = [];
  private sumY2: number[] = [];

  constructor(
    loss: string,
    private readonly classNames?: string[],
  ) {
    this.classification = CLASSIFICATION_LOSSES.includes(loss);
  }

  /** `predicted` is the model output, `target` what the loss compared it with. */
  async add(predicted: tf.Tensor, target: tf.Tensor) {
    if (this.classification) await this.addClasses(predicted, target);
    else await this.addValues(predicted, target);
  }

  private async addClasses(predicted: tf.Tensor, target: tf.Tensor) {
    const outputs = predicted.shape.at(-1) ?? 1;
    const [p, t] = tf.tidy(() => {
      const p2 = predicted.reshape([predicted.shape[0], -1]);
      const t2 = target.reshape([target.shape[0], -1]);
      const pc = outputs > 1 ? p2.argMax(-1) : p2.squeeze([1]).greaterEqual(0.5).toInt();
      const tc = t2.shape[1]! > 1 ? t2.argMax(-1) : t2.squeeze([1]).round().toInt();
      return [pc, tc];
    });
    const [pred, truth] = await Promise.all([p.data(), t.data()]);
    p.dispose();
    t.dispose();
    const k = Math.max(outputs > 1 ? outputs : 2, this.classNames?.length ?? 0);
    this.matrix ??= Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (let i = 0; i < pred.length; i++) {
      const row = truth[i];
      if (row >= 0 && row < k) this.matrix[row][pred[i]]++;
    }
  }

  private async addValues(predicted: tf.Tensor, target: tf.Tensor) {
    const [p, t] = (await Promise.all([
      predicted.reshape([predicted.shape[0], -1]).array(),
      target.reshape([target.shape[0], -1]).array(),
    ])) as [number[][], number[][]];
    for (let i = 0; i < p.length; i++) {
      this.n++;
      for (let j = 0; j < p[i].length; j++) {
        const e = p[i][j] - t[i][j];
        this.sumSq += e * e;
        this.sumAbs += Math.abs(e);
        this.sumY[j] = (this.sumY[j] ?? 0) + t[i][j];
        this.sumY2[j] = (this.sumY2[j] ?? 0) + t[i][j] * t[i][j];
      }
    }
  }

  result(): EvaluationReport {
    if (this.classification) return this.matrix ? classificationReport(this.matrix, this.classNames) : {};
    if (this.n === 0) return {};
    const outputs = this.sumY.length;
    const values = this.n * outputs;
    const ssTot = this.sumY.reduce((s, sum, j) => s + (this.sumY2[j] - (sum * sum) / this.n), 0);
    return { mse: this.sumSq / values, mae: this.sumAbs / values, r2: ssTot > 0 ? 1 - this.sumSq / ssTot : 0 };
  }
}

function classificationReport(matrix: number[][], classNames?: string[]): EvaluationReport {
  const k = matrix.length;
  const total = matrix.flat().reduce((a, b) => a + b, 0);
  let correct = 0;
  const perClass: ClassReport[] = matrix.map((row, c) => {
    const tp = row[c];
    correct += tp;
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = matrix.reduce((s, r) => s + r[c], 0);
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { class: classNames?.[c] ?? String(c), precision, recall, f1, support };
  });
  return {
    accuracy: total > 0 ? correct / total : 0,
    macroF1: perClass.reduce((s, c) => s + c.f1, 0) / k,
    classes: perClass.map((c) => c.class),
    ...(k <= MAX_MATRIX_CLASSES ? { confusionMatrix: matrix } : {}),
    perClass,
  };
}

/** The report for tensors already in memory, predicting in batches. */
export async function reportFor(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  loss: string,
  batchSize: number,
  classNames?: string[],
): Promise<EvaluationReport> {
  const report = new ReportAccumulator(loss, classNames);
  const n = x.shape[0];
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const xb = x.slice(start, size);
    const yb = y.slice(start, size);
    const out = model.predict(xb, { batchSize }) as tf.Tensor;
    try {
      await report.add(out, yb);
    } finally {
      tf.dispose([xb, yb, out]);
    }
  }
  return report.result();
}
