import type { EarlyStopping, Objective, Strategy } from '../../schemas/sweep.ts';

/*
 * When the search ends a trial early, decided after each of its epochs from the curves of
 * the sweep's trials (the objective's value per epoch). Pure: the sweep store feeds it.
 */

/** a is better than b under the objective. */
export const better = (goal: Objective['goal'], a: number, b: number) => (goal === 'min' ? a < b : a > b);

/** The best value of a curve, or null when it has none yet. */
export function bestOf(goal: Objective['goal'], curve: readonly (number | null)[]): number | null {
  let best: number | null = null;
  for (const v of curve) if (v !== null && Number.isFinite(v) && (best === null || better(goal, v, best))) best = v;
  return best;
}

/** The epochs at which successive halving compares trials: minEpochs·η^k, below the job's epochs. */
export function rungs(strategy: Extract<Strategy, { type: 'halving' }>, epochs: number): number[] {
  const out: number[] = [];
  const eta = strategy.reductionFactor ?? 3;
  for (let r = strategy.minEpochs ?? 1; r < epochs; r *= eta) out.push(r);
  return out;
}

/**
 * Successive halving at a rung: the trial goes on when its value is at least the (1 - 1/η)
 * quantile of the values every trial recorded at this rung (its own included), i.e. when it
 * is in the top 1/η. The first trial to reach a rung always goes on, as in ASHA: nothing to
 * compare with yet.
 */
export function haltAtRung(goal: Objective['goal'], eta: number, value: number, atRung: readonly number[]): boolean {
  const sorted = [...atRung].sort((a, b) => (goal === 'max' ? a - b : b - a)); // worst first
  const q = quantile(sorted, 1 - 1 / eta);
  return better(goal, q, value);
}

/** Linear-interpolated quantile of sorted values (numpy's default). */
function quantile(sorted: readonly number[], p: number) {
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/**
 * The median stopping rule (Golovin et al., Google Vizier): after `graceEpochs`, stop a trial
 * whose best value so far is worse than the median, over finished trials, of their running
 * averages up to the same epoch. Waits for `minTrials` finished trials.
 */
export function haltByMedian(
  goal: Objective['goal'],
  rule: EarlyStopping,
  curve: readonly (number | null)[],
  finished: readonly (readonly (number | null)[])[],
): boolean {
  const epoch = curve.length;
  if (epoch < (rule.graceEpochs ?? 1) || finished.length < (rule.minTrials ?? 3)) return false;
  const best = bestOf(goal, curve);
  if (best === null) return false;
  const averages = finished
    .map((c) => c.slice(0, epoch).filter((v): v is number => v !== null && Number.isFinite(v)))
    .filter((values) => values.length > 0)
    .map((values) => values.reduce((a, b) => a + b, 0) / values.length)
    .sort((a, b) => a - b);
  if (averages.length < (rule.minTrials ?? 3)) return false;
  const median = quantile(averages, 0.5);
  return better(goal, median, best);
}
