FROM python:3.12 AS builder

RUN useradd --create-home app
WORKDIR /home/app
USER app
ENV PATH="/home/app/.local/bin:$PATH"

COPY --chown=app:app requirements.txt .
RUN pip install --user --no-cache-dir -r requirements.txt

FROM python:3.12-slim AS production

RUN useradd --create-home app
WORKDIR /home/app
USER app
ENV PATH="/home/app/.local/bin:$PATH"

COPY --from=builder --chown=app /home/app/.local /home/app/.local

COPY --chown=app:app . .
ENV HELLO=user-site WRITE_DIR=/home/app
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "hello:app"]
