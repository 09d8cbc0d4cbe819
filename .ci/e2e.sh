#!/usr/bin/env bash
# Prepare everything harden's end-to-end tests (tests/e2e, marker `e2e`) need, as root:
#   1. a Docker engine + docker-compose 1.29 + debootstrap   (../shared/e2e/engine.sh)
#   2. Compose v2, `docker compose` (../shared/e2e/compose-v2.sh): the e2e stacks run under it,
#      and every test that validates compose output needs it (`docker compose config`)
#   3. the stand-ins python:3.12-slim, python:3.12, mysql:8.0, adminer  (../shared/e2e/images.sh)
#   4. the stand-ins postgres:16, redis:7, node:20-slim, node:20, ... (.ci/e2e-images.sh), and
#      the alias tags python:3.8-3.11 / node:16/18 on them that `harden verify` needs to build
#      projects of ../shared/corpus as written (tests/e2e/test_verify_corpus.py)
# CI clones the repository into a folder with shared/ beside it, hence ../shared
# (HARDEN_SHARED_DIR names another place).
#
# If this run started dockerd, it says so in $HARDEN_E2E_STARTED_FILE
# (default /tmp/harden-e2e-started-engine: "1" = started here, "0" = was already running);
# the dockerd pid is in /tmp/harden-dockerd.pid. Whoever called this stops it at the end:
#   [ "$(cat /tmp/harden-e2e-started-engine 2>/dev/null)" = 1 ] && kill "$(cat /tmp/harden-dockerd.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${HARDEN_SHARED_DIR:-../shared}
STARTED_FILE=${HARDEN_E2E_STARTED_FILE:-/tmp/harden-e2e-started-engine}
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
log() { echo "[e2e.sh] $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
for script in engine.sh compose-v2.sh images.sh; do
	[ -f "$SHARED/e2e/$script" ] || { log "$SHARED/e2e/$script not found (set HARDEN_SHARED_DIR)"; exit 1; }
done

started=0
if ! docker info >/dev/null 2>&1; then
	started=1
fi
t0=$SECONDS
bash "$SHARED/e2e/engine.sh" >&2
echo "$started" >"$STARTED_FILE"
if [ "$started" = 1 ]; then
	log "dockerd started by this run (pid $(cat /tmp/harden-dockerd.pid)); recorded in $STARTED_FILE"
fi
log "engine ready in $((SECONDS - t0)) s"

tc=$SECONDS
bash "$SHARED/e2e/compose-v2.sh" >&2
docker compose version >&2 || { log "docker compose does not run after compose-v2.sh"; exit 1; }
log "Compose v2 ready in $((SECONDS - tc)) s"

t1=$SECONDS
bash "$SHARED/e2e/images.sh" >&2
log "shared stand-in images ready in $((SECONDS - t1)) s"

t2=$SECONDS
bash .ci/e2e-images.sh >&2
log "harden's stand-in images ready in $((SECONDS - t2)) s"
