import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Server-generated ids: UUIDv7, so sorting them sorts by creation time. */
export const Id = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description: 'server-generated id' });

/** Names people give (jobs, datasets): bounded, and no control characters, which would reach listings, terminals and logs. */
export const Name = (description?: string) =>
  Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001F\\u007F]+$', description: description ?? 'at most 200 characters, no control characters' });

export const IdParams = Type.Object({ id: Id });
export type IdParams = Static<typeof IdParams>;

export const FieldError = Type.Object({
  path: Type.String({ description: 'JSON pointer of the offending field, e.g. /model/layers/0/units' }),
  message: Type.String(),
});

/** RFC 9457 problem details, the body of every error. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'stable machine-readable error code' }),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(FieldError)),
  },
  { $id: 'Problem', description: 'application/problem+json' },
);
export type Problem = Static<typeof Problem>;

export const ProblemRef = Type.Ref('Problem');

export const Shape = Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 8 });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 100, pattern: Id.pattern, description: 'nextCursor of the previous page' })),
};
