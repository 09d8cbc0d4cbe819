FROM node:18-alpine AS builder

# node-gyp needs these for bcrypt
RUN apk add --no-cache python3 make g++

WORKDIR /app
COPY package.json yarn.lock ./
RUN yarn install --frozen-lockfile
COPY . .
RUN yarn build
# hadolint ignore=DL3059
RUN yarn install --production --frozen-lockfile

FROM node:18-alpine AS production

WORKDIR /app

COPY --from=builder /app /app

EXPOSE 8080
HEALTHCHECK CMD wget -qO- http://127.0.0.1:8080/healthz || exit 1
CMD ["yarn", "start"]
