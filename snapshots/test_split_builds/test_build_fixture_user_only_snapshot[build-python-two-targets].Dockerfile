FROM python:3.12-slim AS app
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
USER 10001:10001
ENV HELLO=two-targets-app
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "hello:app"]

# the same app with a debug toolbar: built on top of it
FROM app AS debug
# hadolint ignore=DL3002,DL3066
USER root
RUN pip install --no-cache-dir flask-debugtoolbar==0.16.0
USER 10001:10001
ENV HELLO=two-targets-debug
