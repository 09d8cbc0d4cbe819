FROM golang:1.22 AS builder

WORKDIR /go/src/app
COPY . .
ENV CGO_ENABLED=0

# go install puts the binary in $GOPATH/bin (/go/bin), on the golang image's PATH
RUN go install -v ./cmd/hello

FROM gcr.io/distroless/static-debian12:nonroot AS production

WORKDIR /go/src/app

COPY --from=builder /go/bin/hello /go/bin/hello
ENV PATH="/go/bin:$PATH"

EXPOSE 8080
CMD ["hello"]
