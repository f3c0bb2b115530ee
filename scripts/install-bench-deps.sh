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

# The mirror: the first Debian URI in the machine's own sources.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	mirror=$(awk '/^URIs:/ {print $2; exit}' "$f")
	[ -n "$mirror" ] && case "$mirror" in */debian) break ;; *) mirror="" ;; esac
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
	mirror=$(awk '$1 == "deb" && $0 ~ /\/debian / {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt/sources.list*; pgcopydb not fetched"; exit 0; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/sources.list.d" "$work/etc/preferences.d" "$work/state/lists/partial" "$work/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >"$work/etc/sources.list"
aptopts=(
	-o "Dir::Etc::SourceList=$work/etc/sources.list"
	-o "Dir::Etc::SourceParts=$work/etc/sources.list.d"
	-o "Dir::Etc::Preferences=$work/etc/preferences"
	-o "Dir::Etc::PreferencesParts=$work/etc/preferences.d"
	-o "Dir::State=$work/state"
	-o "Dir::State::Lists=$work/state/lists"
	-o "Dir::Cache=$work/cache"
	-o "Debug::NoLocking=1"
	-o "APT::Sandbox::User=root"
)
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
