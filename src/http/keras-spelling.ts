import type { preValidationHookHandler } from 'fastify';
import { camelizeKeys } from '../model/keras-names.ts';

/** Accept Keras's snake_case everywhere by camelizing body keys before validation. */
export const kerasSpelling: preValidationHookHandler = async (request) => {
  request.body = camelizeKeys(request.body);
};
