FROM python:3.12-slim-bookworm AS builder

WORKDIR /opt/inventory

# the package and its metadata; pip builds and installs it with its dependencies
COPY pyproject.toml README.md ./
COPY src/ src/
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"
RUN pip install --no-cache-dir .

FROM python:3.12-slim-bookworm AS production

WORKDIR /opt/inventory
COPY src/ src/

COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

EXPOSE 8080
# console script installed by the package
ENTRYPOINT ["inventory-api"]
CMD ["--port", "8080"]
