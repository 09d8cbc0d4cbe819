FROM node:20-slim AS builder
RUN corepack enable

WORKDIR /app
COPY package.json pnpm-lock.yaml ./
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm run build
# hadolint ignore=DL3059
RUN pnpm prune --prod

FROM node:20-slim AS production

WORKDIR /app

COPY --from=builder /app /app

USER node
CMD ["node", "build/index.js"]
