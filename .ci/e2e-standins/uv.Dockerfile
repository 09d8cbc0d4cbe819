# Stand-in for ghcr.io/astral-sh/uv:0.13.9 (FROM scratch with /uv and /uvx), made from the uv
# wheel on PyPI. The official binaries are static (musl); the wheel's are linked against glibc,
# so this stand-in serves Debian-based images only.
FROM python:3.12-slim AS fetch
ARG UV_VERSION=0.13.9
RUN pip download --no-cache-dir --no-deps --only-binary=:all: "uv==${UV_VERSION}" -d /whl \
 && python3 -m zipfile -e /whl/uv-${UV_VERSION}-*.whl /x \
 && mkdir /out && install -m 0755 /x/uv-${UV_VERSION}.data/scripts/uv /x/uv-${UV_VERSION}.data/scripts/uvx /out/ \
 && /out/uv --version

FROM scratch
COPY --from=fetch /out/ /
