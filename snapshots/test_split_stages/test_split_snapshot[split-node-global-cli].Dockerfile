FROM node:20 AS builder
ENV NODE_ENV=production

WORKDIR /app

COPY package.json package-lock.json ./
# the Nest CLI, installed globally: it builds the app and starts it
RUN npm install -g @nestjs/cli@10
RUN npm ci

COPY . .
RUN nest build
# hadolint ignore=DL3059
RUN npm prune --omit=dev

FROM node:20-slim AS production
ENV NODE_ENV=production

WORKDIR /app

COPY --from=builder /app /app
# the Nest CLI, installed globally: it builds the app and starts it
RUN npm install -g @nestjs/cli@10

EXPOSE 3000
CMD nest start
