FROM node:20 AS builder

# the app folder belongs to the image's node user, who installs and runs the app
RUN mkdir -p /home/node/app && chown -R node:node /home/node/app
WORKDIR /home/node/app

COPY --chown=node:node package*.json ./
USER node
RUN npm ci

COPY --chown=node:node . .
RUN npm run build
# hadolint ignore=DL3059
RUN npm prune --omit=dev

FROM node:20-slim AS production

# the app folder belongs to the image's node user, who installs and runs the app
RUN mkdir -p /home/node/app && chown -R node:node /home/node/app
WORKDIR /home/node/app

COPY --from=builder --chown=node /home/node/app /home/node/app
USER node

ENV HELLO=node-user WRITE_DIR=/home/node/app/data
EXPOSE 3000
CMD ["node", "dist/server.js"]
