#!/bin/sh
# Entrypoint of the local node stand-ins (as in the official image): a first argument
# that is an option or not a command runs `node` with the arguments.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
	set -- node "$@"
fi
exec "$@"
