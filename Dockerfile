# syntax=docker/dockerfile:1
# One image with both binaries, jarvis-operator and jarvis-gateway (charts/jarvis-stability runs
# them). Non-root, and nothing is written outside the volumes the chart mounts (--state-dir, /tmp),
# so it runs with a read-only root filesystem.
#
#   docker build -t jarvis-stability:0.1.0 .
#
# How this file is checked without a Docker engine: see "Container image" in README.md.
ARG NODE_IMAGE=node:20.20-bookworm-slim

# ---- build: compile the workspaces the binaries need ------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# package.json files first: the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY api/package.json api/
COPY operator/package.json operator/
COPY dataplane/package.json dataplane/
COPY e2e/package.json e2e/
COPY mocks/package.json mocks/
COPY bench/package.json bench/
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY api/ api/
COPY operator/ operator/
COPY dataplane/ dataplane/
RUN npx tsc -b api operator dataplane

# ---- runtime: production dependencies and the compiled output only ------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY api/package.json api/
COPY operator/package.json operator/
COPY dataplane/package.json dataplane/
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts --workspace=api --workspace=operator --workspace=dataplane && npm cache clean --force
COPY --from=build /src/api/dist api/dist
COPY --from=build /src/api/proto api/proto
COPY --from=build /src/operator/dist operator/dist
COPY --from=build /src/dataplane/dist dataplane/dist
RUN chmod 0755 operator/dist/main.js dataplane/dist/main.js \
  && ln -s /app/operator/dist/main.js /usr/local/bin/jarvis-operator \
  && ln -s /app/dataplane/dist/main.js /usr/local/bin/jarvis-gateway
# Any non-root uid works (the files are world-readable); the chart runs it as 10001.
USER 10001:10001
EXPOSE 8080 9901 18000 8081
ENTRYPOINT []
CMD ["jarvis-gateway", "--help"]
