import type * as tf from '@tensorflow/tfjs';
import type { JobControl } from './job-control.ts';
import type { CheckpointStore } from '../storage/checkpoint-store.ts';
import type { StopReason, Supervisor } from '../training/fit.ts';

export interface SupervisionOptions {
  /** Wall-clock instant (ms) after which training stops with `timeout`. */
  deadline?: number;
  /** Save a checkpoint every this many epochs (and after the last). */
  checkpointEvery: number;
  /** How often, at most, the control flags are read from Redis during a fit. */
  pollMs?: number;
}

/**
 * Watches one training run from inside the fit loop: stops it at the next batch when the
 * job is cancelled, its worker shuts down, or its time is up; checkpoints it after epochs;
 * and restores a checkpoint when a job is resumed on another worker.
 */
export class JobSupervisor implements Supervisor {
  stopReason: StopReason | undefined;
  keepModel = false;
  private lastPoll = 0;

  constructor(
    private readonly jobId: string,
    private readonly control: JobControl,
    private readonly checkpoints: CheckpointStore,
    private readonly options: SupervisionOptions,
  ) {}

  /** Called after every batch; true stops the fit. */
  async shouldStop(): Promise<boolean> {
    if (this.stopReason) return true;
    const now = Date.now();
    if (this.options.deadline !== undefined && now > this.options.deadline) {
      this.stopReason = 'timeout';
      return true;
    }
    if (now - this.lastPoll < (this.options.pollMs ?? 50)) return false;
    this.lastPoll = now;
    const state = await this.control.read(this.jobId);
    if (state.request) {
      this.stopReason = state.request;
      this.keepModel = state.keepModel;
    }
    return this.stopReason !== undefined;
  }

  /** Called after every finished epoch (1-based), before its event is recorded. */
  async epochDone(epoch: number, epochs: number, model: tf.LayersModel, history: Record<string, number[]>) {
    if (epoch % this.options.checkpointEvery === 0 || epoch === epochs) {
      await this.checkpoints.save(this.jobId, epoch, history, model, model.optimizer);
    }
  }

  /** Loads the job's checkpoint into a freshly compiled model; returns the epochs already done. */
  async restore(
    model: tf.LayersModel,
  ): Promise<{ initialEpoch: number; history: Record<string, number[]> } | undefined> {
    const checkpoint = await this.checkpoints.load(this.jobId);
    if (!checkpoint) return undefined;
    // Weights are matched by position: layer names carry process-wide counters and differ between runs.
    const ordered = Object.keys(checkpoint.modelWeights).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    model.setWeights(ordered.map((name) => checkpoint.modelWeights[name]));
    await model.optimizer.setWeights(checkpoint.optimizerWeights);
    for (const name of ordered) checkpoint.modelWeights[name].dispose();
    for (const { tensor } of checkpoint.optimizerWeights) tensor.dispose();
    return { initialEpoch: checkpoint.epoch, history: checkpoint.history };
  }
}
