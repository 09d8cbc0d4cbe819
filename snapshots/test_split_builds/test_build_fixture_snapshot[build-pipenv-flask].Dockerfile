FROM python:3.12 AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN pip install --no-cache-dir pipenv==2026.10.3

WORKDIR /usr/src/app

COPY Pipfile Pipfile.lock ./
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
# --system: no virtualenv of pipenv's own; --deploy: fail if the lock is out of date
RUN pipenv install --system --deploy

FROM python:3.12-slim AS production

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /usr/src/app

COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

COPY . .
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
USER 10001:10001

EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "hello:app"]
