# syntax=docker/dockerfile:1

# ---------------------------------------------------------------------------
# Stage 1: compile TypeScript to dist/ (with the .lua/.wasm assets, the dashboard
# and the examples it serves). Dev dependencies live only here.
# ---------------------------------------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts here: tfjs-node is not needed to compile, and `prepare` would
# build before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY workers ./workers
COPY dashboard ./dashboard
COPY examples ./examples
RUN npm run build

# ---------------------------------------------------------------------------
# Stage 2: production dependencies only. Build tools are here so that
# @tensorflow/tfjs-node's install script (node-pre-gyp --fallback-to-build) can
# compile if no prebuilt binary matches; it normally downloads libtensorflow and
# a prebuilt addon. tfjs-node is an optionalDependency: if its install fails (no
# internet, an unsupported architecture), `npm ci` still succeeds and the service
# falls back to the wasm backend (TFJS_BACKEND=auto).
# ---------------------------------------------------------------------------
FROM node:24-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts must run (tfjs-node); `prepare` (the build) is for source checkouts.
RUN npm pkg delete scripts.prepare \
 && npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---------------------------------------------------------------------------
# Stage 3: runtime image: compiled JavaScript and production dependencies, no
# sources, tests or benchmarks.
# ---------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/package.json ./package.json
COPY --from=build /app/dist ./dist
COPY bin ./bin

# Data directory for artifacts and checkpoints, created and chowned before the
# VOLUME instruction so a fresh named volume inherits node:node ownership.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# API by default; the worker is `node dist/workers/worker.js`. Node is exec'd
# directly (no npm wrapper) so SIGTERM reaches the process.
CMD ["node", "dist/src/server.js"]
