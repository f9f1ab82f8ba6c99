# carbelsad production image.
#   docker build -t carbelsad .
#   docker run -p 8000:8000 -e SECRET_KEY=... -e DATABASE_URL=... -e REDIS_URL=... carbelsad
#
# bcrypt is the only required native module. Its package bundles prebuilt binaries for linux-x64 and
# linux-arm64 (glibc and musl) and loads them at require time through node-gyp-build. Its install
# script only looks for those prebuilds, so no compiler, Python or make is needed here. It also works
# when install scripts are skipped (npm 11 warns about unreviewed install scripts, and a later
# release will block them). msgpackr-extract (BullMQ, optional) also ships prebuilds, and msgpackr
# falls back to plain JavaScript without it.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- deps: every dependency, to compile ------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# ---- build: TypeScript -> dist/, web console -> dist/web -------------------------------------
FROM deps AS build
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY web ./web
RUN npm run build

# ---- runtime: production dependencies and compiled code only ---------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DEBUG=False \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# Code, SQL migrations (with their down scripts) and email templates. They are owned by root and
# read-only for the app user. dist/ includes the compiled scripts (dist/scripts/migrate.js,
# setup-superadmin.js, setup-secret.js), because tsx is a dev dependency and is not installed here.
COPY --from=build /app/dist ./dist
COPY drizzle ./drizzle
COPY templates ./templates

# The embedded PGlite database (used only when DATABASE_URL is unset) lives in /app/data/pglite.
# Mount a volume there to keep it: -v carbelsad-data:/app/data
RUN mkdir -p /app/data && chown node:node /app/data

USER node
EXPOSE 8000

# Slim images have no curl; Node 24 has fetch built in.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/api/v1/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node runs as PID 1 and handles SIGTERM itself: it finishes in-flight requests, closes WebSockets
# with 1001, and exits within 10 s. dist/bundle/ is the server bundled by scripts/bundle-server.mjs
# (what `npm start` runs too); dist/server.js is the same code unbundled.
CMD ["node", "dist/bundle/server.js"]
