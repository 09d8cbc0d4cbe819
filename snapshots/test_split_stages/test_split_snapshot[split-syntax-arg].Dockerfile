# syntax=docker/dockerfile:1
# escape=\

# Python version for both the build and the image
ARG PYTHON_VERSION=3.12
FROM --platform=linux/amd64 python:${PYTHON_VERSION} AS builder

ARG APP_VERSION=dev

WORKDIR /app
COPY requirements.txt ./
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt

FROM --platform=linux/amd64 python:${PYTHON_VERSION}-slim AS production

ARG APP_VERSION=dev
LABEL org.opencontainers.image.version=$APP_VERSION

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
COPY app.py ./

ENV APP_VERSION=${APP_VERSION}
CMD ["python", "app.py"]
# end of file
