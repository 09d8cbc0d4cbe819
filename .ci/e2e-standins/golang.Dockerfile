# Stand-in for golang:1.22: Go 1.22 from bookworm-backports laid out like the official image
# (GOPATH=/go, go on PATH, gcc/libc6-dev/git for cgo and VCS, GOTOOLCHAIN=local so a go.mod
# asking for a newer Go fails instead of downloading a toolchain).
FROM harden-e2e/bookworm:minbase
RUN echo 'deb http://deb.debian.org/debian bookworm-backports main' >/etc/apt/sources.list.d/backports.list \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t bookworm-backports golang-1.22-go \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev git make pkg-config \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/*.log \
 && mkdir -p /usr/local/go /go/bin /go/src \
 && ln -s /usr/lib/go-1.22/bin /usr/local/go/bin \
 && chmod -R 1777 /go
ENV GOLANG_VERSION=1.22 GOTOOLCHAIN=local GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
