FROM golang:1.22 AS builder

WORKDIR /src

# module cache layer
COPY go.mod go.sum ./
RUN go mod download

COPY . .
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /usr/local/bin/server ./cmd/server

FROM gcr.io/distroless/static-debian12:nonroot AS production

WORKDIR /src

COPY --from=builder /usr/local/bin/server /usr/local/bin/server

EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/server"]
