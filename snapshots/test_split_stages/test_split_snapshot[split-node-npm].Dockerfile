FROM node:20 AS builder

WORKDIR /usr/src/app

# install dependencies (dev ones too: the TypeScript build needs them)
COPY package.json package-lock.json ./
RUN npm ci

COPY tsconfig.json ./
COPY src/ src/
RUN npm run build
# hadolint ignore=DL3059
RUN npm prune --omit=dev

FROM node:20-slim AS production

WORKDIR /usr/src/app

COPY --from=builder /usr/src/app /usr/src/app

ENV NODE_ENV=production
EXPOSE 3000
CMD ["node", "dist/server.js"]
