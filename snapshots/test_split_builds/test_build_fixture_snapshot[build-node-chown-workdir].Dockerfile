FROM node:20-slim AS builder
WORKDIR /usr/src/app
COPY package*.json ./
RUN npm ci && chown -R node:node /usr/src/app
COPY . .
RUN npm run build
# hadolint ignore=DL3059
RUN npm prune --omit=dev

FROM node:20-slim AS production
WORKDIR /usr/src/app
COPY --from=builder --chown=node:node /usr/src/app /usr/src/app
RUN chown node:node /usr/src/app
USER node
ENV HELLO=node-chown WRITE_DIR=/usr/src/app/data
EXPOSE 3000
CMD ["node", "dist/server.js"]
