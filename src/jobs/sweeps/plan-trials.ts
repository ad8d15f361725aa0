import seedrandom from 'seedrandom';
import type { SweepRequest } from '../../schemas/sweep.ts';
import { gridValues, type Parameters, sample } from './space.ts';

/**
 * Every trial's parameters, decided at submit from the request alone: the grid's combinations
 * in order (the first `maxTrials` of them), or `maxTrials` seeded samples. Being known up
 * front, each trial is validated before anything is queued, and a trial relaunched after a
 * crash is the same trial. (Halving adapts by stopping trials at rungs, not by choosing them.)
 */
export function planTrials(request: Pick<SweepRequest, 'parameters' | 'strategy' | 'maxTrials'>): Parameters[] {
  const entries = Object.entries(request.parameters);
  const { strategy } = request;
  if (strategy.type === 'grid') {
    const axes = entries.map(([pointer, domain]) => [pointer, gridValues(domain, pointer)] as const);
    const total = axes.reduce((n, [, values]) => n * values.length, 1);
    // Combination i in mixed radix, the last parameter varying fastest, as nested loops would.
    return Array.from({ length: Math.min(total, request.maxTrials) }, (_, i) => {
      const combo: Parameters = {};
      for (const [pointer, values] of [...axes].reverse()) {
        combo[pointer] = values[i % values.length];
        i = Math.floor(i / values.length);
      }
      return Object.fromEntries(entries.map(([pointer]) => [pointer, combo[pointer]]));
    });
  }
  const random = seedrandom(`sweep:${strategy.seed ?? 0}`);
  return Array.from({ length: request.maxTrials }, () =>
    Object.fromEntries(entries.map(([pointer, domain]) => [pointer, sample(domain, random())])),
  );
}

/** How many combinations a grid over these parameters has (for the answer and the docs). */
export function gridSize(parameters: SweepRequest['parameters']) {
  return Object.entries(parameters).reduce((n, [pointer, domain]) => n * gridValues(domain, pointer).length, 1);
}
