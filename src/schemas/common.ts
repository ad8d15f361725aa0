import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Server-generated ids: UUIDv7, so sorting them sorts by creation time. */
export const Id = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'server-generated id',
});

/**
 * Characters no text shown back to people (listings, the dashboard, terminals, logs) may hold,
 * as a regex character class body: C0 and C1 controls and DEL (line breaks, terminal escapes,
 * U+0085, U+009B), bidi marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069, which make one tenant's name read as something else in
 * another's listing), zero-width and other invisible format characters (U+200B-U+200D,
 * U+2060-U+2064, U+206A-U+206F, U+FEFF, U+FFF9-U+FFFB), line and paragraph separators
 * (U+2028, U+2029) and unpaired surrogates (not encodable as UTF-8). Regexes using it need the
 * `u` flag (Ajv sets it), under which a surrogate range matches lone surrogates only.
 */
export const HIDDEN_CHARACTERS =
  '\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200B-\\u200F\\u2028-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB\\uD800-\\uDFFF';

const hidden = new RegExp(`[${HIDDEN_CHARACTERS}]`, 'u');

/** What shown text must not contain, in words (pattern errors and README say the same). */
export const HIDDEN_CHARACTERS_RULE =
  'no control characters (C0, C1, DEL), bidi controls or invisible format characters';

/** The first hidden character of `text` as `U+XXXX`, or undefined when there is none. */
export function hiddenCharacter(text: string): string | undefined {
  const found = hidden.exec(text);
  return found ? `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}

const hiddenAll = new RegExp(`[${HIDDEN_CHARACTERS}]`, 'gu');

/** `text` quoted for an error message, its hidden characters written as `\\uXXXX` so the message shows them instead of obeying them. */
export const quoteText = (text: string) =>
  JSON.stringify(text).replace(hiddenAll, (c) => `\\u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);

/** Text shown back to people: `HIDDEN_CHARACTERS` refused. */
export const DisplayText = (options: { minLength?: number; maxLength: number; description?: string }) =>
  Type.String({
    minLength: 1,
    ...options,
    pattern: `^[^${HIDDEN_CHARACTERS}]*$`,
    description: options.description ?? `at most ${options.maxLength} characters, ${HIDDEN_CHARACTERS_RULE}`,
  });

/** Names people give (jobs, datasets): bounded, and nothing hidden, which would reach listings, terminals and logs. */
export const Name = (description?: string) => DisplayText({ maxLength: 200, description });

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
  cursor: Type.Optional(
    Type.String({ maxLength: 100, pattern: Id.pattern, description: 'nextCursor of the previous page' }),
  ),
};
