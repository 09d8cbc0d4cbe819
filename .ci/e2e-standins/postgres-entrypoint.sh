#!/bin/bash
# Entrypoint of the local "postgres:16" stand-in (PostgreSQL 15 from Debian bookworm).
# Mimics what compose projects rely on in the official image's entrypoint:
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#   (default postgres), POSTGRES_DB (default $POSTGRES_USER), POSTGRES_INITDB_ARGS, PGDATA,
#   the *_FILE variants, /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh,
#   dropping root to the postgres user.
# Like the official image, first start initialises the cluster with a temporary server
# that listens only on the unix socket (so a socket-based `pg_isready` can answer during
# initialisation), then execs postgres listening on all addresses.
set -Eeo pipefail
shopt -s nullglob

log() { echo "$(date -u +%FT%TZ) [entrypoint] $*"; }
die() { log "ERROR: $*" >&2; exit 1; }

file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}"
	if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
		die "both $var and $fileVar are set (but are exclusive)"
	fi
	local val="$def"
	if [ -n "${!var:-}" ]; then val="${!var}"; elif [ -n "${!fileVar:-}" ]; then val="$(<"${!fileVar}")"; fi
	export "$var"="$val"
	unset "$fileVar"
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = 'postgres' ]; then
	PGDATA=${PGDATA:-/var/lib/postgresql/data}
	export PGDATA
	if [ "$(id -u)" = 0 ]; then
		mkdir -p "$PGDATA" /var/run/postgresql
		chown postgres:postgres "$PGDATA" /var/run/postgresql
		chmod 0700 "$PGDATA"
		exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
	fi

	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		file_env POSTGRES_PASSWORD
		file_env POSTGRES_USER postgres
		file_env POSTGRES_DB "$POSTGRES_USER"
		file_env POSTGRES_INITDB_ARGS
		auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
		if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
			die "Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, \"-e POSTGRES_PASSWORD=password\" on \"docker run\".
       (or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password)"
		fi
		log "initdb (user $POSTGRES_USER)"
		pwfile=$(mktemp)
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
		# shellcheck disable=SC2086
		initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
			--auth-host="$auth" $POSTGRES_INITDB_ARGS >/dev/null
		rm -f "$pwfile"
		printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

		log "starting temporary server (unix socket only)"
		pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
		export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD"
		psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER")
		if [ "$POSTGRES_DB" != postgres ]; then
			log "creating database $POSTGRES_DB"
			"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
				CREATE DATABASE :"db" ;
			EOSQL
		fi
		for f in /docker-entrypoint-initdb.d/*; do
			case "$f" in
				*.sh)     log "running $f"; . "$f" ;;
				*.sql)    log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >/dev/null ;;
				*.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" >/dev/null ;;
				*)        log "ignoring $f" ;;
			esac
		done
		pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
		unset PGPASSWORD
		log "PostgreSQL init process complete; ready for start up."
	fi
	log "starting postgres on 0.0.0.0:5432"
	exec "$@" -c listen_addresses='*'
fi

exec "$@"
