FROM node:20-slim AS builder

# dependencies in their own folder, cached apart from the code
COPY package*.json /tmp/app/
RUN cd /tmp/app && npm install

COPY . /usr/src/app
RUN cp -a /tmp/app/node_modules /usr/src/app
WORKDIR /usr/src/app
RUN npm run build
# hadolint ignore=DL3059
RUN npm prune --omit=dev

FROM node:20-slim AS production
COPY --from=builder /usr/src/app /usr/src/app
USER 1000:1000
WORKDIR /usr/src/app

ENV HELLO=node-elsewhere
EXPOSE 3000
CMD ["node", "dist/server.js"]
