import type { TSchema } from '@sinclair/typebox';
import type { Config } from '../config.ts';
import { badRequest } from '../errors.ts';
import { ProblemRef } from '../schemas/common.ts';
import { PredictRequest, PredictResponse, type ServedModel } from '../schemas/model.ts';
import { finiteOrThrow } from '../serving/prediction-output.ts';
import type { Predictor } from '../serving/predictor.ts';
import { canSee, type Tenant } from '../tenant.ts';

/**
 * What every predict route shares, by id (models.ts) or by name (registry.ts): the body limit,
 * the float32 check of the instances, the request and answer schemas.
 */
export function predictRoute<Params extends TSchema>(
  config: Config,
  route: { tags: string[]; summary: string; params: Params },
) {
  return {
    bodyLimit: config.PREDICT_BODY_LIMIT_BYTES,
    // Instances become a float32 tensor: a number beyond float32 is a 422 naming it, not an Infinity.
    config: { bodyLimitSetting: 'PREDICT_BODY_LIMIT_BYTES', float32Body: true },
    schema: {
      ...route,
      body: PredictRequest,
      response: {
        200: PredictResponse,
        400: ProblemRef,
        401: ProblemRef,
        404: ProblemRef,
        413: ProblemRef,
        422: ProblemRef,
        429: ProblemRef,
        503: ProblemRef,
      },
    },
  };
}

/**
 * Predicts with the stored model `model.modelId`, which the caller has checked `tenant` may use
 * (the predictor checks the owner again on the loaded model), and says which model answered.
 */
export async function servePrediction(predictor: Predictor, tenant: Tenant, body: PredictRequest, model: ServedModel) {
  const instances = body.instances ?? body.inputs;
  if (!instances || (body.instances && body.inputs)) {
    const message = body.instances
      ? 'send `instances` (rows) or `inputs` (columns), not both'
      : "the body needs `instances` (rows) or `inputs` (columns, TF Serving's columnar form)";
    throw badRequest(message, [{ path: body.instances ? '/inputs' : '/instances', message }]);
  }
  const answer = finiteOrThrow(
    await predictor.predict(model.modelId, instances, (meta) => canSee(tenant, meta.tenant)),
  );
  if (body.instances) return { model, ...answer };
  // TF Serving answers a columnar request with `outputs`; for one output it is the batch itself.
  const { predictions, ...rest } = answer;
  return { model, outputs: predictions, ...rest };
}
