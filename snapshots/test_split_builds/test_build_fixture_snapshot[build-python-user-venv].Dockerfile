FROM python:3.12 AS builder

RUN useradd --create-home app
WORKDIR /home/app
RUN python3 -m venv /opt/venv \
    && chown -R app /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
# the app's own user installs and runs it
USER app

COPY --chown=app:app requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

FROM python:3.12-slim AS production

RUN useradd --create-home app
WORKDIR /home/app
# the app's own user installs and runs it
USER app

COPY --from=builder --chown=app /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

COPY --chown=app:app . .
ENV HELLO=user-venv WRITE_DIR=/home/app
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "hello:app"]
