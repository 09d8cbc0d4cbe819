FROM python:3.11-bookworm AS builder

ENV PYTHONUNBUFFERED=1
WORKDIR /srv

COPY requirements.txt .
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN pip install --no-cache-dir -r requirements.txt

FROM python:3.11-slim-bookworm AS production

ENV PYTHONUNBUFFERED=1
WORKDIR /srv

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
COPY app/ app/

# waits for the API the worker reads from, then starts it
COPY docker/start-worker.sh /usr/local/bin/start-worker.sh
ENTRYPOINT ["start-worker.sh"]
CMD ["python", "-m", "app.worker"]
