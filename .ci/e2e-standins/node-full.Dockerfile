# Stand-in for node:20 (the "full" image): node:20-slim plus the toolchain node-gyp needs.
FROM node:20-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc g++ make python3 libc6-dev git \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/*.log
