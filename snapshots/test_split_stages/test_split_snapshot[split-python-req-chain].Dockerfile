FROM python:3.11-slim-bookworm AS builder

ARG DJANGO_ENV=production
ENV DJANGO_SETTINGS_MODULE=shop.settings \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential \
        libpq-dev \
        libjpeg-dev \
        zlib1g-dev \
        gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/shop

# base.txt is pulled in by prod.txt with -r
COPY requirements/ requirements/
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN pip install --upgrade pip && pip install -r requirements/prod.txt

FROM python:3.11-slim-bookworm AS production

LABEL org.opencontainers.image.source="https://example.com/shop"

ARG DJANGO_ENV=production
ENV DJANGO_SETTINGS_MODULE=shop.settings \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 libjpeg62-turbo gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/shop

COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

COPY . .

# static files and translations are built into the image
RUN python manage.py collectstatic --noinput \
    && python manage.py compilemessages

VOLUME ["/srv/shop/media"]
EXPOSE 8000
STOPSIGNAL SIGINT
CMD ["gunicorn", "shop.wsgi:application", "--bind", "0.0.0.0:8000"]
