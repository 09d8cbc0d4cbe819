FROM node:20 AS builder

WORKDIR /app

# the preflight checker is a workspace tool of this repository (a devDependency)
COPY package.json ./
COPY tools ./tools
RUN npm install

FROM node:20-slim AS production

WORKDIR /app

COPY --from=builder /app /app

COPY . .

COPY docker/start.sh /usr/local/bin/start.sh
RUN chmod +x /usr/local/bin/start.sh
USER 1000:1000

EXPOSE 3000
CMD ["start.sh"]
