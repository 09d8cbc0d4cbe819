FROM python:3.11-bookworm AS builder

WORKDIR /srv/app

# pip's general options come before the subcommand here
COPY requirements.txt .
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN pip --no-cache-dir --disable-pip-version-check --timeout 60 install -r requirements.txt

FROM python:3.11-slim-bookworm AS production

WORKDIR /srv/app

COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

COPY . .

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]
