# syntax=docker/dockerfile:1
#
# Custodian's container image (docs/operations.md, "Containers").
#
# Node: the project's pinned `node` npm package (package.json, exact version in
# package-lock.json), the very build the tests ran on — not whatever Node 24 a base image
# tag carries that day. The official node:24 image is used only to build (it brings npm for
# `npm ci`); the runtime stage is plain Debian with that pinned binary, no npm, no yarn,
# no compiler.
#
# At run time the root filesystem may be read-only: every write goes to /data (a volume:
# the embedded database, the shred ring, the self-signed certificate, and the key files
# unless they are mounted as secrets) or /tmp (a tmpfs). It runs as an unprivileged user.

ARG DEBIAN_RELEASE=bookworm

FROM node:24-${DEBIAN_RELEASE}-slim AS build
# pkcs11js (the PKCS#11 root-key provider) is a native addon compiled at install.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json packages/client/
RUN npm ci --no-audit --no-fund
COPY . .
# The web console (console/dist) and the embedded database's migrated template
# (.cache/pglite-template: the schema only, no key or row), so that a first start in
# embedded mode copies it instead of writing next to the code; with it the compile cache a
# first start copies (.cache/compile-cache-seed, src/module-cache.ts).
RUN node_modules/node/bin/node scripts/console.ts build \
 && node_modules/node/bin/node scripts/db-template.ts \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf console/src console/public bench test docs/console

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# DejaVu Sans: the font the compliance report's and the security policy's PDFs embed.
# CA certificates: outbound TLS (OpenID providers, webhooks, SMTP, witnesses, KMS).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 custodian \
 && useradd --system --uid 10001 --gid custodian --home-dir /data --no-create-home --shell /usr/sbin/nologin custodian \
 && install -d -o custodian -g custodian -m 0700 /data
COPY --from=build /app /app
RUN ln -s /app/node_modules/node/bin/node /usr/local/bin/node \
 && ln -s /app/bin/custodian.js /usr/local/bin/custodian
WORKDIR /app
ENV NODE_ENV=production \
    CUSTODIAN_DATA_DIR=/data \
    CUSTODIAN_HOST=0.0.0.0 \
    CUSTODIAN_HTTPS_PORT=8443 \
    CUSTODIAN_HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 8443 8080
USER 10001:10001
# Ready means: the database answers and takes writes, migrations are current, the root
# key is loaded (GET /readyz). A sealed Shamir root key reads as unhealthy until unsealed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "scripts/healthcheck.ts"]
# The service's own process, not `npm start` (README, "Shutdown"): SIGTERM reaches it and
# it finishes in-flight requests and flushes the audit chain before it exits.
CMD ["node", "src/main.ts"]
