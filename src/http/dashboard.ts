import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Chart.js from our own node_modules: the resolved entry (dist/chart.cjs) sits beside the UMD build, one self-contained file (no CDN, no bundler).
const chartJsDir = path.dirname(createRequire(import.meta.url).resolve('chart.js'));
// The `eventsource` package (a WhatWG EventSource over fetch, so the job page's stream can send the API key)
// and the eventsource-parser it imports, resolved from it: each dist/ has a self-contained ES module, index.js.
const eventSourceEntry = createRequire(import.meta.url).resolve('eventsource');
const eventSourceDir = path.dirname(eventSourceEntry);
const eventSourceParserDir = path.dirname(createRequire(eventSourceEntry).resolve('eventsource-parser'));

/**
 * The dashboard: plain HTML and ES modules from dashboard/, served as they are under /ui/,
 * with Chart.js, the EventSource client and the example job requests. `/` redirects to it, and
 * `/favicon.ico` answers the dashboard's icon (dashboard/favicon.svg). Hidden from the OpenAPI document.
 */
export const dashboard: FastifyPluginAsync = async (app) => {
  // decorateReply: false on each: @fastify/swagger-ui registers @fastify/static too.
  await app.register(fastifyStatic, { root: path.join(root, 'dashboard'), prefix: '/ui/', decorateReply: false });
  await app.register(fastifyStatic, {
    root: chartJsDir,
    prefix: '/ui/vendor/chart.js/',
    decorateReply: false,
    allowedPath: (pathname) => pathname === '/chart.umd.js' || pathname === '/chart.umd.min.js',
  });
  for (const [name, dir] of [
    ['eventsource', eventSourceDir],
    ['eventsource-parser', eventSourceParserDir],
  ]) {
    await app.register(fastifyStatic, {
      root: dir,
      prefix: `/ui/vendor/${name}/`,
      decorateReply: false,
      allowedPath: (pathname) => pathname === '/index.js',
    });
  }
  await app.register(fastifyStatic, {
    root: path.join(root, 'examples'),
    prefix: '/ui/examples/',
    decorateReply: false,
  });
  // Browsers ask for /favicon.ico whatever the page links: a 404 there is a console error on every page.
  const favicon = readFileSync(path.join(root, 'dashboard', 'favicon.svg'));
  app.get('/favicon.ico', { schema: { hide: true } }, (_request, reply) =>
    reply.type('image/svg+xml').header('Cache-Control', 'public, max-age=86400').send(favicon),
  );
  app.get('/', { schema: { hide: true } }, (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui', { schema: { hide: true } }, (_request, reply) => reply.redirect('/ui/'));
};
