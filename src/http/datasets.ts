import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError, notFound } from '../errors.ts';
import { BUILT_IN_INFO } from '../data/built-in-info.ts';
import type { DatasetFormat, DatasetMeta } from '../data/dataset-meta.ts';
import {
  byteLimit,
  IdxIngest,
  ingestImages,
  ingestTable,
  limited,
  type DatasetContent,
  type UploadOptions,
} from '../data/ingest.ts';
import { ingestLimits } from '../data/ingest-limits.ts';
import { parseColorMode, parseCrop, parseImageSize } from '../data/image-spec.ts';
import { invalidDataset } from '../data/upload-errors.ts';
import { hiddenCharacter, HIDDEN_CHARACTERS_RULE } from '../schemas/common.ts';
import { jobsUsingDataset } from '../jobs/dataset-usage.ts';
import { ProblemRef } from '../schemas/common.ts';
import { DatasetListQuery, DatasetList, DatasetParams, UploadQuery } from '../schemas/dataset.ts';
import { DRAFT_LEASE_MS, StorageQuotaError } from '../storage/dataset-store.ts';
import { listScope } from '../tenant.ts';
import { discardBody, formParts, malformedForm } from './form-parts.ts';
import { checkStorageQuota } from './quotas.ts';

const RAW_TYPES: Record<string, DatasetFormat> = {
  'text/csv': 'csv',
  'application/csv': 'csv',
  'application/json': 'json',
};
const FORMATS = ['csv', 'json', 'idx', 'images'];

const view = (meta: DatasetMeta) => ({ ...meta, builtIn: false });

/** Classes a column shows in a listing; `GET /v1/datasets/:id` shows them all. */
export const LIST_CLASSES = 10;

/**
 * A dataset as a listing shows it: a column's classes (up to DATASET_MAX_CLASSES of them)
 * beyond the first LIST_CLASSES are left out, and the column says so (`classesTruncated`)
 * and how many there are (`classCount`).
 */
function listView(meta: DatasetMeta) {
  const columns = meta.columns.map((column) =>
    column.classes && column.classes.length > LIST_CLASSES
      ? {
          ...column,
          classes: column.classes.slice(0, LIST_CLASSES),
          classCount: column.classes.length,
          classesTruncated: true,
        }
      : column,
  );
  return { ...view(meta), columns };
}

/** The `text` option: comma-separated names of the columns to store as raw text. */
function textColumns(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (value.length > 2000 || names.some((name) => name === ''))
    throw invalidDataset(
      '/text',
      'must be comma-separated column names, e.g. "review,title" (at most 2000 characters)',
    );
  return names;
}

/** The format of a multipart file: the `format` option, else its name, else its content type. */
function formatOf(options: UploadOptions, filename: string | undefined, mimetype: string): DatasetFormat {
  if (options.format) return options.format;
  const name = (filename ?? '').toLowerCase();
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.json')) return 'json';
  if (/\.(zip|tar|tgz|tar\.gz)$/.test(name)) return 'images';
  if (/ubyte|\.idx\d?|\.gz$/.test(name)) return 'idx';
  if (RAW_TYPES[mimetype]) return RAW_TYPES[mimetype];
  throw invalidDataset(
    '/format',
    `cannot tell the format of ${JSON.stringify(filename ?? 'the file')}: add the field format=csv|json|idx|images`,
  );
}

/**
 * Datasets: uploads are streamed straight from the request into column files (never held
 * whole in memory), under the configured size limit. Raw `text/csv` and `application/json`
 * bodies reach the handler as streams: this plugin replaces the JSON body parser for its own
 * routes only.
 */
export const datasetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { datasets, config, redis } = app.services;
  const limit = config.DATASET_UPLOAD_LIMIT_BYTES;
  const limits = ingestLimits(config);
  // Drafts of uploads that a dead process left half-written (live uploads hold a lease): at
  // start, and then now and again for those of processes that die while this one runs.
  const sweep = () =>
    Promise.all([datasets.sweepDrafts(0), app.services.objects.sweepLeftovers()]).then(
      ([n]) => n > 0 && app.log.info({ swept: n }, 'swept unfinished dataset uploads'),
      (err) => app.log.warn({ err }, 'could not sweep unfinished dataset uploads'),
    );
  let sweeper: NodeJS.Timeout | undefined;
  // onReady: after the services' hook has connected Redis.
  app.addHook('onReady', async () => {
    await sweep();
    sweeper = setInterval(sweep, DRAFT_LEASE_MS * 4);
    sweeper.unref();
  });
  app.addHook('onClose', async () => clearInterval(sweeper));

  // multipart enforces its own limit one byte later, so ours (a 413 problem) speaks first.
  await app.register(multipart, { limits: { fileSize: limit + 1, files: 2, fields: 10, fieldSize: 1024 } });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(Object.keys(RAW_TYPES), (_request, payload, done) => done(null, payload));

  async function fromMultipart(request: FastifyRequest, dir: string, options: UploadOptions): Promise<DatasetContent> {
    let content: DatasetContent | undefined;
    let idx: IdxIngest | undefined;
    for await (const part of formParts(request)) {
      if (part.type === 'field') {
        const value = String(part.value);
        if (part.fieldname === 'format') {
          if (!FORMATS.includes(value)) throw invalidDataset('/format', `must be one of ${FORMATS.join(', ')}`);
          options.format = value as DatasetFormat;
        } else if (part.fieldname === 'delimiter') {
          if (value.length !== 1) throw invalidDataset('/delimiter', 'must be one character');
          options.delimiter = value;
        } else if (part.fieldname === 'text') {
          options.text = textColumns(value);
        } else if (part.fieldname === 'imageSize') {
          options.image = { ...options.image, size: parseImageSize(value) };
        } else if (part.fieldname === 'colorMode') {
          options.image = { ...options.image, colorMode: parseColorMode(value) };
        } else if (part.fieldname === 'cropToAspectRatio') {
          options.image = { ...options.image, cropToAspectRatio: parseCrop(value) };
        } else if (part.fieldname === 'name' || part.fieldname === 'label') {
          // The same rules as the query string's name and label.
          if (value.length === 0 || value.length > 200)
            throw invalidDataset(`/${part.fieldname}`, 'must be 1 to 200 characters');
          const hidden = part.fieldname === 'name' ? hiddenCharacter(value) : undefined;
          if (hidden) throw invalidDataset('/name', `holds ${hidden}; names must have ${HIDDEN_CHARACTERS_RULE}`);
          options[part.fieldname as 'name' | 'label'] = value;
        } else {
          throw invalidDataset(
            `/${part.fieldname}`,
            'is not a known field (name, format, label, delimiter, text, imageSize, colorMode, cropToAspectRatio, and the file)',
          );
        }
        continue;
      }
      const format = formatOf(options, part.filename, part.mimetype);
      if (content || (idx && format !== 'idx'))
        throw invalidDataset(`/${part.fieldname}`, 'a CSV or JSON upload is one file');
      const source = limited(part.file, byteLimit(limit, `file ${part.fieldname}`), (err) =>
        malformedForm(`the form could not be read: ${err.message}`),
      );
      if (options.image && format !== 'images')
        throw invalidDataset(
          `/${Object.keys(options.image)[0] === 'size' ? 'imageSize' : Object.keys(options.image)[0]}`,
          'applies only to image-folder archives (.zip, .tar, .tar.gz)',
        );
      if (format === 'idx') {
        idx ??= new IdxIngest(dir, limit, limits);
        await idx.add(part.fieldname, source);
      } else if (format === 'images') {
        content = await ingestImages(source, dir, options);
      } else {
        content = await ingestTable(format, source, dir, options);
      }
    }
    if (idx) return idx.finish(options);
    if (!content) throw invalidDataset('/file', 'the form has no file');
    return content;
  }

  app.post(
    '/datasets',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Upload a dataset (CSV, JSON, IDX or an image-folder archive)',
        description:
          'multipart/form-data with a file (`file`; IDX: `images` and `labels`, plain or gzip; image folders: a .zip, .tar or .tar.gz of class folders) and optional fields `name`, `format`, `label`, `delimiter`, `text`, `imageSize`, `colorMode`, `cropToAspectRatio` before it; ' +
          'or a raw `text/csv` or `application/json` body with the options in the query string. Parsed while streaming; a bad row is a 400 naming it, and nothing is stored.',
        consumes: ['multipart/form-data', 'text/csv', 'application/json'],
        querystring: UploadQuery,
        response: {
          201: Type.Ref('Dataset'),
          400: ProblemRef,
          401: ProblemRef,
          403: ProblemRef,
          413: ProblemRef,
          415: ProblemRef,
          429: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request, reply) => {
      const { text, ...query } = request.query;
      const options: UploadOptions = { ...query, maxJsonDepth: config.MAX_JSON_DEPTH, limits };
      if (text !== undefined) options.text = textColumns(text);
      try {
        // Before a byte is read: a store that is away is a 503 now, not after the upload.
        await app.services.storeProbe.require();
        await checkStorageQuota(app.services, request.tenant.id);
      } catch (err) {
        discardBody(request, reply);
        throw err;
      }
      const draft = await datasets.draft(request.tenant.id, config.TENANT_MAX_STORED_BYTES);
      try {
        let content: DatasetContent;
        if (request.isMultipart()) {
          content = await fromMultipart(request, draft.dir, options);
        } else {
          const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
          const format = options.format ?? RAW_TYPES[type];
          if (format === 'idx')
            throw invalidDataset(
              '/format',
              'IDX uploads are two files: send them as multipart/form-data fields images and labels',
            );
          if (format === 'images')
            throw invalidDataset(
              '/format',
              'image-folder archives are sent as multipart/form-data, the file in `file`',
            );
          if (!format || !request.body) {
            throw new AppError(
              415,
              'unsupported_media_type',
              `send multipart/form-data, text/csv or application/json, not ${JSON.stringify(type || 'no content type')}`,
            );
          }
          content = await ingestTable(format, limited(request.body as Readable, byteLimit(limit)), draft.dir, options);
        }
        const meta = await draft.commit(content);
        reply.code(201).header('Location', `/v1/datasets/${meta.id}`);
        return view(meta);
      } catch (err) {
        await draft.abort();
        discardBody(request, reply);
        if (err instanceof StorageQuotaError) throw new AppError(403, 'storage_quota', err.message);
        throw err;
      }
    },
  );

  app.get(
    '/datasets',
    {
      schema: {
        tags: ['datasets'],
        summary: 'List datasets: the built-in ones, then uploads, newest first',
        description:
          `A column shows at most ${LIST_CLASSES} of its classes here (\`classesTruncated\`, \`classCount\`; GET /v1/datasets/:id shows all), ` +
          'and a page holds fewer than `limit` datasets when their stored metadata would exceed LIST_MAX_BYTES: follow `nextCursor`.',
        querystring: DatasetListQuery,
        response: { 200: DatasetList, 400: ProblemRef, 401: ProblemRef, 429: ProblemRef, 503: ProblemRef },
      },
    },
    async (request) => {
      const builtIns = request.query.cursor
        ? []
        : await Promise.all(Object.values(BUILT_IN_INFO).map((describe) => describe()));
      const page = await datasets.list({
        tenant: listScope(request.tenant),
        limit: request.query.limit ?? 20,
        cursor: request.query.cursor,
        maxBytes: config.LIST_MAX_BYTES,
      });
      return { items: [...builtIns, ...page.items.map(listView)], nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'A dataset: rows, columns and their types, feature shape, label, class counts, statistics, bytes',
        params: DatasetParams,
        response: { 200: Type.Ref('Dataset'), 401: ProblemRef, 404: ProblemRef, 429: ProblemRef, 503: ProblemRef },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (Object.hasOwn(BUILT_IN_INFO, id)) return BUILT_IN_INFO[id]();
      const meta = await datasets.getFor(id, request.tenant);
      if (!meta) throw notFound('dataset', id);
      return view(meta);
    },
  );

  app.delete(
    '/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Delete an uploaded dataset; refused (409) while a queued or running job uses it',
        params: DatasetParams,
        response: {
          204: Type.Null(),
          401: ProblemRef,
          404: ProblemRef,
          409: ProblemRef,
          429: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (Object.hasOwn(BUILT_IN_INFO, id))
        throw new AppError(409, 'built_in', `${id} is a built-in dataset and cannot be deleted`);
      if (!(await datasets.getFor(id, request.tenant))) throw notFound('dataset', id);
      const users = await jobsUsingDataset(redis, config.REDIS_PREFIX, id);
      if (users.length > 0) {
        throw new AppError(
          409,
          'dataset_in_use',
          `dataset ${id} is used by ${users.length} queued or running job(s): ${users.slice(0, 5).join(', ')}; cancel them or wait`,
        );
      }
      await datasets.delete(id);
      return reply.code(204).send(null);
    },
  );
};
