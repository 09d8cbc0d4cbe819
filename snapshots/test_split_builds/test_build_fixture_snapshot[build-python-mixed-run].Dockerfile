FROM python:3.12 AS builder
WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN pip install --no-cache-dir -r requirements.txt && mkdir -p /app/uploads

FROM python:3.12-slim AS production
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN mkdir -p /app/uploads
COPY . .
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app \
    && mkdir -p /app/uploads \
    && chown 10001:10001 /app/uploads
USER 10001:10001
ENV HELLO=mixed-run WRITE_DIR=/app/uploads
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "hello:app"]
