FROM python:3.11 AS builder

ENV POETRY_VERSION=1.8.3 \
    POETRY_NO_INTERACTION=1

RUN pip install "poetry==$POETRY_VERSION"

WORKDIR /code
COPY pyproject.toml poetry.lock ./
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
# install into the image's Python, no virtualenv of poetry's own
RUN poetry config virtualenvs.create false \
    && poetry install --only main --no-root

FROM python:3.11-slim AS production

ENV POETRY_VERSION=1.8.3 \
    POETRY_NO_INTERACTION=1

WORKDIR /code

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

COPY bot/ bot/
CMD ["python", "-m", "bot"]
