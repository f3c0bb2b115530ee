#!/usr/bin/env bash
# install-bench-deps.sh — fetch the tools the benchmark compares pgvecrep
# with, and print where they are. Only `make bench` and `make bench-quick`
# call it: the tests need none of these tools.
#
# pgcopydb: Debian's binary package for the installed release, fetched
# through a private apt configuration (own sources list, state and cache
# directories in a temp dir, the mirror read from the machine's own apt
# sources) and unpacked into a cache directory, not installed: the system's
# packages and package lists are left as they were. Its dependencies
# (postgresql-client, libpq5) are already there for the server and psql.
#
# Output: one line on stdout, the pgcopydb binary's path, or nothing when it
# cannot be had (the bench then skips the scenario and says why). Progress
# goes to stderr. Idempotent: a binary already unpacked or on PATH is reused.
set -euo pipefail

log() { printf 'install-bench-deps: %s\n' "$*" >&2; }

# shellcheck source=scripts/private-apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/private-apt.sh"

cache="${PGVECREP_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgvecrep-bench}"
bin="$cache/pgcopydb/usr/bin/pgcopydb"

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi
if command -v pgcopydb >/dev/null 2>&1; then
	command -v pgcopydb
	exit 0
fi

# The release: the installed Debian's codename, unless PGCOPYDB_SUITE says otherwise.
suite="${PGCOPYDB_SUITE:-}"
if [ -z "$suite" ] && [ -r /etc/os-release ]; then
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
[ -n "$suite" ] || { log "cannot tell the Debian release (set PGCOPYDB_SUITE); pgcopydb not fetched"; exit 0; }

mirror=$(debian_mirror)
[ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt/sources.list*; pgcopydb not fetched"; exit 0; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
private_apt_config "$work" "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
log "fetching Debian's pgcopydb package ($suite)"
if ! apt-get "${aptopts[@]}" update -qq >&2 ||
	! (cd "$work" && apt-get "${aptopts[@]}" download pgcopydb >&2); then
	log "could not download the pgcopydb package; the bench skips its scenario"
	exit 0
fi
deb=$(ls "$work"/pgcopydb_*.deb | head -n 1)
rm -rf "$cache/pgcopydb"
mkdir -p "$cache/pgcopydb"
dpkg-deb -x "$deb" "$cache/pgcopydb"
if ! "$bin" --version >/dev/null 2>&1; then
	log "the unpacked pgcopydb does not run (missing libraries?); the bench skips its scenario"
	exit 0
fi
log "pgcopydb unpacked: $("$bin" --version 2>&1 | head -n 1)"
echo "$bin"
