# The mdmops controller image: `docker build -t mdmops:0.1.0 .`, then the chart in charts/mdmops.
# Build stage: compile TypeScript and bundle the command (scripts/bundle.mjs), then keep only
# production dependencies.
FROM node:24-bookworm-slim AS build
# better-sqlite3 compiles its binding when no prebuilt one fits this Node.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Without scripts: the package's prepare step would build before the sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
# Only what ships is built: the benchmarks (and the test servers they start) stay out of the image.
COPY tsconfig.json tsconfig.image.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build:image \
 && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: Node and the built package, run as an unprivileged user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY schemas ./schemas
# The node image's "node" user, by number so that Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/mdmops.js", "controller"]
