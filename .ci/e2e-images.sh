#!/usr/bin/env bash
# Build the local stand-ins for the base images harden's end-to-end examples need
# beyond the four of ../shared/e2e/images.sh (python:3.12-slim, python:3.12, mysql:8.0,
# adminer). No registry is reachable, so everything comes from Debian bookworm packages:
#
#   harden-e2e/bookworm:minbase  debootstrap --variant=minbase + the host CA bundle
#                                (the base of all images below; `docker import`)
#   postgres:16    PostgreSQL 15 (Debian) with an entrypoint honouring POSTGRES_USER,
#                  POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD, PGDATA and
#                  /docker-entrypoint-initdb.d; pg_isready/psql on PATH
#   redis:7        redis-server + redis-cli 7.0 (Debian), protected mode off like the
#                  official image, runs as user redis, WORKDIR /data
#   node:20-slim   Debian's nodejs (18) + npm, user `node` uid/gid 1000 like the official
#                  image, npm trusts the host CA bundle (/etc/npmrc cafile=)
#   node:20        node:20-slim + gcc, g++, make, python3 (the "full" image: node-gyp works)
#   golang:1.22    Go 1.22 (bookworm-backports) + gcc, git; GOPATH=/go, GOTOOLCHAIN=local
#   gcr.io/distroless/static-debian12:nonroot
#                  FROM scratch: passwd/group with nonroot 65532, CA bundle, tzdata; USER 65532
#   ghcr.io/astral-sh/uv:0.13.9
#                  FROM scratch: /uv and /uvx from the uv wheel on PyPI (built FROM python:3.12-slim
#                  of ../shared/e2e/images.sh, which .ci/e2e.sh builds first)
#
# Aliases (`docker tag`, no build, no extra disk): the tags real projects use, pointing at the
# stand-ins above, so `harden verify` can build projects of ../shared/corpus as written (see
# tests/e2e/test_verify_corpus.py). The Python and Node inside are Debian's (3.11, 18) whatever
# the tag says; a project whose pins need the tag's own version is not picked there.
#   python:3.12-slim -> python:3.11-slim python:3.11-slim-bullseye python:3.11.2-slim-buster
#                       python:3.10-slim python:3.9-slim python:3.9.10-slim python:3.8.10-slim
#   python:3.12      -> python:3.11 python:3.10 python:3.9 python:3.8.10
#   node:20-slim     -> node:18-slim node:16-slim      node:20 -> node:18 node:16
#
# The derived images are `docker build`s (legacy builder) whose RUN lines use apt against
# deb.debian.org, like a Dockerfile in the wild would.
#
# Idempotent: an image carrying the label e2e.standin.version=<its VERSIONS entry> is
# skipped; FORCE=1 rebuilds everything. Run as root (debootstrap).
# Usage: sudo .ci/e2e-images.sh [IMAGE...]
set -euo pipefail

# bump an image's number when its recipe changes (a rebuilt base rebuilds its children)
declare -A VERSIONS=(
	[harden-e2e/bookworm:minbase]=1
	[postgres:16]=1
	[redis:7]=1
	[node:20-slim]=1
	[node:20]=1
	[golang:1.22]=1
	[gcr.io/distroless/static-debian12:nonroot]=1
	[ghcr.io/astral-sh/uv:0.13.9]=1
)
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=${HARDEN_E2E_IMAGES_DIR:-/tmp/harden-e2e-images}
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
FORCE=${FORCE:-0}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STANDINS=$HERE/e2e-standins
BASE=harden-e2e/bookworm:minbase
export DOCKER_BUILDKIT=0

log() { echo "[e2e-images.sh] $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap)"; exit 1; }
docker info >/dev/null 2>&1 || { log "docker engine not reachable (run ../shared/e2e/engine.sh)"; exit 1; }
[ -s "$HOST_CA" ] || { log "host CA bundle $HOST_CA missing"; exit 1; }
mkdir -p "$WORK"

ROOTFS=""
CTX=""
cleanup() {
	if [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ]; then
		mountpoint -q "$ROOTFS/proc" && umount "$ROOTFS/proc" || true
		rm -rf --one-file-system "$ROOTFS"
	fi
	[ -z "$CTX" ] || rm -rf "$CTX"
}
trap cleanup EXIT

REBUILT=()
# needs_build IMAGE [PARENT] -> 0 if IMAGE must be (re)built
needs_build() {
	local img=$1 parent=${2:-} have
	VERSION=${VERSIONS[$img]}
	if [[ " ${REBUILT[*]} " == *" $img "* ]]; then
		return 1  # built by this run already
	fi
	if [ "$FORCE" = 1 ]; then
		log "$img: FORCE=1 -> rebuilding"; return 0
	fi
	if ! docker image inspect "$img" >/dev/null 2>&1; then
		log "$img: missing -> building"; return 0
	fi
	if [ -n "$parent" ] && [[ " ${REBUILT[*]} " == *" $parent "* ]]; then
		log "$img: parent $parent was rebuilt -> rebuilding"; return 0
	fi
	have=$(docker image inspect -f '{{index .Config.Labels "e2e.standin"}}/{{index .Config.Labels "e2e.standin.version"}}' "$img")
	if [ "$have" = "$img/$VERSION" ]; then
		log "$img: exists (stand-in v$VERSION), skipping"; return 1
	fi
	log "$img: exists but is not stand-in v$VERSION (label '$have') -> rebuilding"
	return 0
}

build_base() {
	needs_build "$BASE" || return 0
	command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install debootstrap"; exit 1; }
	ROOTFS=$WORK/rootfs-minbase
	rm -rf --one-file-system "$ROOTFS"
	log "$BASE: debootstrap --variant=minbase $SUITE"
	if ! debootstrap --variant=minbase --include=ca-certificates \
		"$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/minbase.debootstrap.log" 2>&1; then
		tail -40 "$WORK/minbase.debootstrap.log" >&2
		exit 1
	fi
	# the host CA bundle (a TLS-intercepting proxy's CA), also where a later
	# update-ca-certificates in a derived image keeps it
	install -m 0644 "$HOST_CA" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
	mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
	install -m 0644 "$HOST_CA" "$ROOTFS/usr/local/share/ca-certificates/host-ca-bundle.crt"
	# no services start inside image builds; keep images small like the official ones
	printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"; chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/99-no-recommends"
	rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
		"$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
	: >"$ROOTFS/etc/resolv.conf"
	echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"
	log "$BASE: importing"
	tar --numeric-owner --xattrs -C "$ROOTFS" \
		--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . \
		| docker import \
			--change "LABEL e2e.standin=$BASE e2e.standin.version=$VERSION e2e.standin.suite=$SUITE" \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'ENV LANG=C.UTF-8' \
			--change 'CMD ["bash"]' \
			- "$BASE" >/dev/null
	rm -rf --one-file-system "$ROOTFS"
	ROOTFS=""
	REBUILT+=("$BASE")
	log "$BASE: done ($(docker image inspect -f '{{.Size}}' "$BASE" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# build_derived IMAGE PARENT DOCKERFILE-IN-e2e-standins/
build_derived() {
	local img=$1 parent=$2 dockerfile=$3 old=""
	needs_build "$img" "$parent" || return 0
	old=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
	CTX=$(mktemp -d "$WORK/ctx.XXXXXX")
	cp -a "$STANDINS/." "$CTX/"
	log "$img: docker build FROM $parent ($dockerfile)"
	if ! docker build --pull=false -f "$CTX/$dockerfile" -t "$img" \
		--label "e2e.standin=$img" --label "e2e.standin.version=$VERSION" --label "e2e.standin.suite=$SUITE" \
		"$CTX" >"$WORK/$(echo "$img" | tr ':/' '__').build.log" 2>&1; then
		tail -40 "$WORK/$(echo "$img" | tr ':/' '__').build.log" >&2
		exit 1
	fi
	rm -rf "$CTX"; CTX=""
	REBUILT+=("$img")
	# a multi-stage recipe leaves its earlier stages as untagged images: drop those this build
	# made (`docker rmi` without --force refuses an image anything else still uses)
	local id
	for id in $(grep -oE '^ ---> [0-9a-f]{12}$' "$WORK/$(echo "$img" | tr ':/' '__').build.log" | awk '{print $2}' | tac); do
		if [ "$(docker image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null)" = 0 ]; then
			docker rmi "$id" >/dev/null 2>&1 || true
		fi
	done
	# drop the superseded stand-in if it is now untagged (never touches other images)
	if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$img")" ]; then
		if [ "$(docker image inspect -f '{{len .RepoTags}}' "$old" 2>/dev/null)" = 0 ]; then
			docker rmi "$old" >/dev/null 2>&1 || true
		fi
	fi
	log "$img: done ($(docker image inspect -f '{{.Size}}' "$img" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# alias_tag TARGET ALIAS...: tag TARGET as each ALIAS unless it already is that image
alias_tag() {
	local target=$1 id alias; shift
	id=$(docker image inspect -f '{{.Id}}' "$target" 2>/dev/null) || { log "$target missing: cannot alias it"; exit 1; }
	for alias in "$@"; do
		if [ "$(docker image inspect -f '{{.Id}}' "$alias" 2>/dev/null || true)" = "$id" ]; then
			continue
		fi
		docker tag "$target" "$alias"
		log "$alias: tagged as $target"
	done
}

ALIASES=(python-aliases node-aliases)
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(postgres:16 redis:7 node:20 golang:1.22 gcr.io/distroless/static-debian12:nonroot ghcr.io/astral-sh/uv:0.13.9 "${ALIASES[@]}")  # node:20 builds node:20-slim first
build_base
for img in "${want[@]}"; do
	case "$img" in
		postgres:16) build_derived postgres:16 "$BASE" postgres.Dockerfile ;;
		redis:7) build_derived redis:7 "$BASE" redis.Dockerfile ;;
		node:20-slim) build_derived node:20-slim "$BASE" node-slim.Dockerfile ;;
		node:20)
			build_derived node:20-slim "$BASE" node-slim.Dockerfile
			build_derived node:20 node:20-slim node-full.Dockerfile ;;
		golang:1.22) build_derived golang:1.22 "$BASE" golang.Dockerfile ;;
		gcr.io/distroless/static-debian12:nonroot)
			build_derived gcr.io/distroless/static-debian12:nonroot "$BASE" distroless-static.Dockerfile ;;
		ghcr.io/astral-sh/uv:0.13.9) build_derived ghcr.io/astral-sh/uv:0.13.9 python:3.12-slim uv.Dockerfile ;;
		python-aliases)  # python:3.12-slim and python:3.12 come from ../shared/e2e/images.sh
			alias_tag python:3.12-slim python:3.11-slim python:3.11-slim-bullseye python:3.11.2-slim-buster \
				python:3.10-slim python:3.9-slim python:3.9.10-slim python:3.8.10-slim
			alias_tag python:3.12 python:3.11 python:3.10 python:3.9 python:3.8.10 ;;
		node-aliases)
			build_derived node:20-slim "$BASE" node-slim.Dockerfile
			build_derived node:20 node:20-slim node-full.Dockerfile
			alias_tag node:20-slim node:18-slim node:16-slim
			alias_tag node:20 node:18 node:16 ;;
		*) log "unknown image $img"; exit 2 ;;
	esac
done
docker images --filter label=e2e.standin --filter dangling=false \
	--format '{{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.Size}}'
