#!/bin/bash
# Entrypoint of the local "redis:7" stand-in: like the official image, a bare
# `redis-server` runs with protected mode off (reachable from other containers without a
# password), and root drops to the redis user.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
	shift
	if [ "${1%.conf}" != "${1:-}" ]; then
		conf=$1; shift
		set -- redis-server "$conf" "$@"
	else
		set -- redis-server --protected-mode no "$@"
	fi
	if [ "$(id -u)" = 0 ]; then
		find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi
exec "$@"
