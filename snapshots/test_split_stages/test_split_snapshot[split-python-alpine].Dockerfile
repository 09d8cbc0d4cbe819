FROM python:3.12-alpine3.20 AS builder

WORKDIR /srv
COPY requirements.txt .
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
# build deps are removed again in the same layer
RUN apk add --no-cache --virtual .build-deps gcc musl-dev postgresql-dev \
    && pip install --no-cache-dir -r requirements.txt \
    && apk del .build-deps

FROM python:3.12-alpine3.20 AS production

WORKDIR /srv

# hadolint ignore=DL3018
RUN apk add --no-cache libpq
COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

COPY api/ api/
EXPOSE 5000
CMD ["gunicorn", "-b", "0.0.0.0:5000", "api:app"]
