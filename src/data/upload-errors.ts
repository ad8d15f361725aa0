import { AppError } from '../errors.ts';

/** A 400 naming where in the upload the problem is (`/rows/7/age`, `/x/3/1`) and what it is. */
export const invalidDataset = (path: string, message: string) =>
  new AppError(400, 'invalid_dataset', `${path}: ${message}`, [{ path, message }]);

/** A decimal number as people write it in CSV files; NaN and Infinity are not accepted. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
export const parseNumber = (text: string): number | undefined => (NUMBER.test(text) ? Number(text) : undefined);
