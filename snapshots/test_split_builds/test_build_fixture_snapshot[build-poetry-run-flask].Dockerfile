FROM python:3.12 AS builder

ENV PYTHONUNBUFFERED=1 \
    POETRY_NO_INTERACTION=1

# poetry itself, in the image's own Python (the dependencies go into poetry's environment)
RUN pip install --no-cache-dir "poetry==2.5.1"

WORKDIR /app
COPY pyproject.toml poetry.lock ./
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN poetry install --only main --no-root --no-ansi

FROM python:3.12-slim AS production

ENV PYTHONUNBUFFERED=1 \
    POETRY_NO_INTERACTION=1

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

COPY . .
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
USER 10001:10001

EXPOSE 8000
# check the app imports, then serve it; both through poetry's environment
CMD python -c "import hello" && \
    exec gunicorn --bind 0.0.0.0:8000 --workers 2 hello:app
