# The meshscope image: one build of the whole package, run as collector, control plane, front
# proxy, sidecars, demo services and load generator (see docker-compose.yml).
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first so source edits do not reinstall them; `npm ci` would run the `prepare`
# build before the source is here, so scripts wait for the build step below.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm rebuild --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY proxy ./proxy
COPY control-plane ./control-plane
COPY collector ./collector
COPY loadgen ./loadgen
COPY dashboards ./dashboards
COPY examples ./examples
COPY up ./up
RUN npm run build && npm prune --omit=dev --no-audit --no-fund
# Only now: with NODE_ENV=production earlier, npm ci would skip the TypeScript compiler.
ENV NODE_ENV=production

ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
