# The meshscope image: one build of the whole package, run as collector, control plane, front
# proxy, sidecars, demo services and load generator (see docker-compose.yml).
FROM node:20-bookworm-slim

WORKDIR /app

# `npm ci` builds through the package's `prepare` script, so the sources come in first.
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY shared ./shared
COPY proxy ./proxy
COPY control-plane ./control-plane
COPY collector ./collector
COPY loadgen ./loadgen
COPY dashboards ./dashboards
COPY examples ./examples
COPY up ./up
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund
# Only now: with NODE_ENV=production during `npm ci`, the TypeScript compiler would be skipped.
ENV NODE_ENV=production

# Run as the image's unprivileged `node` user; the collector's write-ahead buffer and the front
# proxy's HTTPS certificate (named volumes in docker-compose.yml) are the only places it writes
# besides /tmp, and a fresh named volume takes its directory's owner.
RUN mkdir -p /var/lib/meshscope/collector /var/lib/meshscope/ingress && chown -R node:node /var/lib/meshscope
USER node

ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
