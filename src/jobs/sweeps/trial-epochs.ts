import type { TrialLink } from '../../schemas/sweep.ts';
import { bestOf, haltAtRung, haltByMedian, rungs } from './stopping.ts';
import type { SweepRecord, SweepStore } from './sweep-store.ts';

type Settings = Pick<SweepRecord, 'strategy' | 'objective'> & {
  earlyStopping?: SweepRecord['request']['earlyStopping'];
};

/** A sweep's search settings never change: read once per process and sweep. */
const settingsCache = new Map<string, Settings>();

async function settings(sweeps: SweepStore, id: string): Promise<Settings | undefined> {
  const cached = settingsCache.get(id);
  if (cached) return cached;
  const record = await sweeps.record(id);
  if (!record) return undefined;
  if (settingsCache.size > 100) settingsCache.clear();
  const found = { strategy: record.strategy, objective: record.objective, earlyStopping: record.request.earlyStopping };
  settingsCache.set(id, found);
  return found;
}

/**
 * One finished epoch of a trial, as its training reports it: the sweep's `epoch` event and the
 * trial's objective curve, then the search's verdict. True means stop after this epoch: the
 * trial is not in the top 1/η at a halving rung, or is worse than the median of finished
 * trials (median early stopping). The stop is marked before training stops, so the trial
 * shows `stopped`, not `completed`.
 */
export async function trialEpoch(
  sweeps: SweepStore,
  link: TrialLink,
  report: { epoch: number; epochs: number; metrics: Record<string, number> },
  decide = true,
): Promise<boolean> {
  const found = await settings(sweeps, link.id);
  if (!found) return false;
  const { strategy, objective, earlyStopping } = found;
  const curves = await sweeps.curves(link.id);
  const curve = (curves.get(link.trial) ?? []).slice(0, report.epoch - 1);
  while (curve.length < report.epoch - 1) curve.push(null);
  const value = report.metrics[objective.metric];
  curve.push(typeof value === 'number' && Number.isFinite(value) ? value : null);
  await sweeps.recordEpoch(link.id, link.trial, curve, {
    index: link.trial,
    epoch: report.epoch,
    metrics: report.metrics,
  });
  if (!decide || report.epoch >= report.epochs) return false;
  const best = bestOf(objective.goal, curve);
  if (best === null) return false;
  let halt = false;
  if (strategy.type === 'halving' && rungs(strategy, report.epochs).includes(report.epoch)) {
    const atRung = await sweeps.atRung(link.id, report.epoch, link.trial, best);
    halt = haltAtRung(objective.goal, strategy.reductionFactor ?? 3, best, atRung);
  }
  if (!halt && earlyStopping) {
    const finished = await finishedCurves(sweeps, link.id, curves);
    halt = haltByMedian(objective.goal, earlyStopping, curve, finished);
  }
  if (halt) await sweeps.markStopped(link.id, link.trial, report.epoch);
  return halt;
}

/** The curves of trials that ran to their last epoch (completed, not stopped). */
async function finishedCurves(sweeps: SweepStore, id: string, curves: Map<number, (number | null)[]>) {
  const trials = await sweeps.trials(id);
  return trials.filter((t) => t.status === 'completed').map((t) => curves.get(t.index) ?? []);
}
