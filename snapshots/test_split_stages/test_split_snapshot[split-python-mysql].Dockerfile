# Web app for the lab: Flask + MySQL
FROM python:3.12 AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app

# mysqlclient compiles against the MariaDB client headers
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc pkg-config default-libmysqlclient-dev curl \
    && rm -rf /var/lib/apt/lists/*

# dependencies first, for the layer cache
COPY requirements-web.txt .
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN pip install --no-cache-dir -r requirements-web.txt

FROM python:3.12-slim AS production

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 curl \
    && rm -rf /var/lib/apt/lists/*

COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

# the application
COPY src/ src/

EXPOSE 8000
HEALTHCHECK --interval=30s CMD curl -fsS http://127.0.0.1:8000/health || exit 1
CMD ["python", "-m", "src.app"]
