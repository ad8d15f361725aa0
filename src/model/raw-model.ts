import type { CompileSpec } from '../schemas/job-request.ts';

/*
 * The model as given, before its layers are checked: what both readers produce (model-spec's
 * own form and keras-import's translation) and model-spec checks. Its own file so that the
 * two readers share it without importing each other.
 */

/** A raw layer with its path: what the request (or the Keras translation) gave. */
export interface RawLayer {
  layer: Record<string, unknown>;
  path: string;
}

export interface RawModel {
  layers: RawLayer[];
  inputs?: { name: string; shape?: number[] }[];
  outputs?: string[];
  compile?: CompileSpec;
  warnings: string[];
  graph: boolean;
}
