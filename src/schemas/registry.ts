import { Type, type Static } from '@sinclair/typebox';
import { DisplayText, Id, Nullable } from './common.ts';

// The model registry: a tenant's registered names, their numbered versions (each a stored
// model) and aliases that point at one version.

/** Registered names and aliases become parts of Redis keys: plain lowercase names, no ':' or '/'. */
export const REGISTERED_NAME = '^[a-z0-9][a-z0-9._-]{0,99}$';
export const ALIAS_NAME = '^[a-z][a-z0-9_-]{0,49}$';

export const RegisteredName = Type.String({
  pattern: REGISTERED_NAME,
  description: '1-100 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
});
export const AliasName = Type.String({
  pattern: ALIAS_NAME,
  description: '1-50 lowercase letters, digits, "_" or "-", starting with a letter (e.g. production)',
});
const Version = Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'a version number (1, 2, ...)' });

/** A job's `register`: its model becomes the next version of `name` when the job completes. */
export const RegisterSpec = Type.Object(
  {
    name: RegisteredName,
    aliases: Type.Optional(
      Type.Array(AliasName, {
        maxItems: 10,
        uniqueItems: true,
        description: 'aliases moved to the new version once it is registered',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: "register the job's model as the next version of this name when the job completes",
  },
);
export type RegisterSpec = Static<typeof RegisterSpec>;

export const NameParams = Type.Object({ name: RegisteredName });
export const VersionParams = Type.Object({ name: RegisteredName, version: Version });
export const AliasParams = Type.Object({ name: RegisteredName, alias: AliasName });

export const CreateVersionRequest = Type.Object(
  {
    modelId: Id,
    description: Type.Optional(DisplayText({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type CreateVersionRequest = Static<typeof CreateVersionRequest>;

export const RegistryVersion = Type.Object({
  name: RegisteredName,
  version: Version,
  modelId: Id,
  description: Type.Optional(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});
export type RegistryVersion = Static<typeof RegistryVersion>;

/** A version with what its stored model says about it, and the aliases pointing at it. */
export const RegistryVersionDetail = Type.Composite([
  RegistryVersion,
  Type.Object({
    jobId: Nullable(Id),
    metrics: Type.Record(Type.String(), Type.Number(), { description: "the stored model's final training metrics" }),
    aliases: Type.Array(AliasName),
  }),
]);
export type RegistryVersionDetail = Static<typeof RegistryVersionDetail>;

const AliasEntry = Type.Object({ alias: AliasName, version: Version });

export const RegisteredModelSummary = Type.Object({
  name: RegisteredName,
  createdAt: Type.String({ format: 'date-time' }),
  latestVersion: Nullable(Version),
  versionCount: Type.Integer({ minimum: 0 }),
});
export type RegisteredModelSummary = Static<typeof RegisteredModelSummary>;

export const RegistryList = Type.Object({
  items: Type.Array(RegisteredModelSummary),
  nextCursor: Nullable(Type.String()),
});

export const RegistryListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ pattern: REGISTERED_NAME, description: 'nextCursor of the previous page' })),
  },
  { additionalProperties: false },
);
export type RegistryListQuery = Static<typeof RegistryListQuery>;

export const RegisteredModel = Type.Composite([
  RegisteredModelSummary,
  Type.Object({
    aliases: Type.Array(AliasEntry),
    versions: Type.Array(RegistryVersionDetail, { description: 'newest first' }),
    nextCursor: Nullable(Type.Integer({ description: 'more versions: pass as `cursor` for the next (older) page' })),
  }),
]);
export type RegisteredModel = Static<typeof RegisteredModel>;

export const RegisteredModelQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.Integer({ minimum: 1, description: 'nextCursor of the previous page' })),
  },
  { additionalProperties: false },
);
export type RegisteredModelQuery = Static<typeof RegisteredModelQuery>;

export const AliasRequest = Type.Object({ version: Version }, { additionalProperties: false });
export type AliasRequest = Static<typeof AliasRequest>;

/** The alias PUT's answer: where it points now and where it pointed before (null: it is new). */
export const AliasMove = Type.Object({
  name: RegisteredName,
  alias: AliasName,
  version: Version,
  previousVersion: Nullable(Version),
});
export type AliasMove = Static<typeof AliasMove>;

export const AliasHistoryEntry = Type.Object({
  version: Version,
  previousVersion: Nullable(Version),
  at: Type.String({ format: 'date-time' }),
});
export type AliasHistoryEntry = Static<typeof AliasHistoryEntry>;

export const Alias = Type.Object({
  name: RegisteredName,
  alias: AliasName,
  version: Version,
  history: Type.Array(AliasHistoryEntry, { description: 'its moves, oldest first (the last 100)' }),
});
export type Alias = Static<typeof Alias>;
