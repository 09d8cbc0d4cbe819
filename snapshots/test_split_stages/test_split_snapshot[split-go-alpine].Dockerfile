FROM golang:1.22-alpine3.20 AS builder
RUN apk add --no-cache git tzdata

WORKDIR /app
COPY go.mod ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN go build -o report .

FROM alpine:3.20 AS production
# hadolint ignore=DL3018
RUN apk add --no-cache ca-certificates tzdata

WORKDIR /app
COPY . .

COPY --from=builder /app/report /app/report

# the report renders in the office's time zone
ENV TZ=Europe/Berlin
HEALTHCHECK CMD wget -qO- http://127.0.0.1:9000/ || exit 1
CMD ["./report"]
