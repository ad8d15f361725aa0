# syntax=docker/dockerfile:1

# ---------------------------------------------------------------------------
# Stage 1: install production dependencies.
# Build tools are only here so that @tensorflow/tfjs-node's install script
# (node-pre-gyp --fallback-to-build) can compile from source if no prebuilt
# binary matches. It normally just downloads libtensorflow + a prebuilt addon.
# tfjs-node is an optionalDependency: if its install fails (no internet,
# unsupported arch such as arm64), `npm ci` still succeeds and the app falls
# back to the wasm / cpu backend (TFJS_BACKEND=auto).
# ---------------------------------------------------------------------------
FROM node:20-bookworm-slim AS deps

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

COPY package.json package-lock.json ./

# Install scripts must run (tfjs-node), so no --ignore-scripts.
# tsx is a runtime dependency, so dev dependencies can be omitted.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---------------------------------------------------------------------------
# Stage 2: runtime image.
# ---------------------------------------------------------------------------
FROM node:20-bookworm-slim AS runtime

ENV NODE_ENV=production \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000

WORKDIR /app

# Dependencies (including tfjs-node's downloaded libtensorflow, which lives
# under node_modules/@tensorflow/tfjs-node/deps).
COPY --from=deps /app/node_modules ./node_modules

# Application source: package*.json, tsconfig.json, src/, workers/,
# examples/ (if present), ... Filtered by .dockerignore, so directories that
# do not exist yet do not break the build. Files stay root-owned (read-only
# for the app user); only /data is writable.
COPY . .

# Data directory for artifacts/checkpoints. Created and chowned before the
# VOLUME instruction so a fresh named volume inherits node:node ownership.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]

USER node

EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# API by default. Worker: `node --import tsx workers/worker.ts`.
# Node is exec'd directly (no npm/npx wrapper) so SIGTERM reaches the app.
CMD ["node", "--import", "tsx", "src/server.ts"]
