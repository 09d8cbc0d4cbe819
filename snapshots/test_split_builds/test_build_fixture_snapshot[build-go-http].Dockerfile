FROM golang:1.22 AS builder

WORKDIR /app

# download modules first, for the layer cache
COPY go.* ./
RUN go mod download

COPY . .
ENV CGO_ENABLED=0
RUN go build -v -o server .

FROM gcr.io/distroless/static-debian12:nonroot AS production

WORKDIR /app

COPY --from=builder /app/server /app/server

ENV PORT=8080
EXPOSE 8080
CMD ["./server"]
