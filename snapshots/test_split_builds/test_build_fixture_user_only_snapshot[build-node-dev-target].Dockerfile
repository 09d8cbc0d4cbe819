FROM node:20-slim AS development
WORKDIR /usr/src/app
COPY package*.json ./
RUN npm ci
COPY . .
USER 1000:1000
ENV HELLO=node-dev WRITE_DIR=/tmp/dev-data
EXPOSE 3000
CMD ["node", "server.js"]

# the production bundle, built on top of the development image
FROM development AS builder
# hadolint ignore=DL3002,DL3066
USER root
RUN npm run build
RUN npm prune --omit=dev

FROM node:20-slim AS production
WORKDIR /usr/src/app
COPY --from=builder /usr/src/app/node_modules ./node_modules
COPY --from=builder /usr/src/app/dist ./dist
ENV HELLO=node-prod
CMD ["node", "dist/server.js"]
