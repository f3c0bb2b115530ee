#!/usr/bin/env bash
# install-deps.sh — make this machine able to run pgvecrep's demo, tests and
# benchmark: a PostgreSQL server, its server headers, and pgvector built from
# Debian's source package. Idempotent: each step is skipped when its result is
# already there, so CI and `make demo` can call it every time.
#
# pgvector 0.8 is not packaged for the installed Debian release, so its source
# package comes from the next release's suite through a private apt
# configuration (own sources list, own state and cache directories in a temp
# dir). The mirror address is read from the machine's own apt sources, and the
# system's package setup is left untouched.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-}"
SRC_SUITE="${PGVECTOR_SUITE:-trixie}"

log() { printf 'install-deps: %s\n' "$*" >&2; }

sudo_if_needed() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then
		sudo_if_needed apt-get update -qq >&2
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "$@" >&2
}

find_pg_config() {
	local c
	for c in /usr/lib/postgresql/*/bin/pg_config; do
		[ -x "$c" ] && echo "$c"
	done | sort -V | tail -n 1
}

# 1. PostgreSQL server.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	log "installing the PostgreSQL server"
	apt_install postgresql
fi
if [ -z "$PG_MAJOR" ]; then
	PG_MAJOR=$(ls -d /usr/lib/postgresql/*/bin/postgres | sed -E 's#.*/postgresql/([0-9]+)/bin/postgres#\1#' | sort -n | tail -n 1)
fi
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
SHAREDIR="/usr/share/postgresql/${PG_MAJOR}"
log "PostgreSQL ${PG_MAJOR} at ${PG_BIN}"

# 2. pgvector.
if [ -f "${SHAREDIR}/extension/vector.control" ]; then
	log "pgvector already installed ($(grep default_version "${SHAREDIR}/extension/vector.control" | tr -d "'" | awk '{print $3}'))"
	exit 0
fi

# Server headers and a compiler.
if [ ! -x "${PG_BIN}/pg_config" ] || [ ! -d "/usr/include/postgresql/${PG_MAJOR}/server" ]; then
	log "installing postgresql-server-dev-${PG_MAJOR}"
	apt_install "postgresql-server-dev-${PG_MAJOR}" make gcc
fi
command -v make >/dev/null || apt_install make
command -v gcc >/dev/null || apt_install gcc

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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
[ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt/sources.list*"; exit 1; }

mkdir -p "$work/etc/sources.list.d" "$work/etc/preferences.d" "$work/state/lists/partial" "$work/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
printf 'deb-src [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$SRC_SUITE" >"$work/etc/sources.list"
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
log "fetching pgvector's source package (${SRC_SUITE})"
apt-get "${aptopts[@]}" update -qq >&2
(cd "$work" && apt-get "${aptopts[@]}" source --download-only pgvector >&2)
orig=$(ls "$work"/pgvector_*.orig.tar.* | head -n 1)
mkdir -p "$work/src"
tar -xf "$orig" -C "$work/src" --strip-components=1
log "building $(basename "$orig")"
make -C "$work/src" -s PG_CONFIG="${PG_BIN}/pg_config" OPTFLAGS="" >&2
sudo_if_needed make -C "$work/src" -s PG_CONFIG="${PG_BIN}/pg_config" install >&2
log "pgvector installed: $(grep default_version "${SHAREDIR}/extension/vector.control")"
