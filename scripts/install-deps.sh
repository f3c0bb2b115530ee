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
#
# PG_EXTRA_MAJOR=18 also installs a second, newer server beside the system's
# one, for the cross-version (upgrade) tests: Debian's postgresql-18 source
# package from the development suite, built into PG_EXTRA_PREFIX (default
# /usr/local/pgvecrep/pg18, outside any checkout so that the build is reused by
# every later run on this machine), then pgvector built against it. The
# system's server stays the default for everything else.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-}"
SRC_SUITE="${PGVECTOR_SUITE:-trixie}"
PG_EXTRA_MAJOR="${PG_EXTRA_MAJOR:-}"
PG_EXTRA_SUITE="${PG_EXTRA_SUITE:-sid}"
# pgvector for the newer server: the same source package as for the system's
# server by default, so both sides run the same version (binary copies need
# that), patched for 18's API (see patch_pgvector).
PGVECTOR_EXTRA_SUITE="${PGVECTOR_EXTRA_SUITE:-$SRC_SUITE}"
PG_EXTRA_ROOT="${PGVECREP_PG_ROOT:-/usr/local/pgvecrep}"
PG_EXTRA_PREFIX="${PG_EXTRA_PREFIX:-${PG_EXTRA_ROOT}/pg${PG_EXTRA_MAJOR}}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Started by `make deps`, this script inherits MAKELEVEL=1 and MAKEFLAGS from
# the outer make, and every make it runs would too. PostgreSQL's
# Makefile.global generates its headers (errcodes.h and the rest) only at
# MAKELEVEL 0, so the server build failed on a fresh machine; MAKEFLAGS can
# also carry -j, -s or variable overrides meant for pgvecrep's Makefile alone.
# Clearing them here covers every make below, those run through sudo too.
unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES GNUMAKEFLAGS

log() { printf 'install-deps: %s\n' "$*" >&2; }

# shellcheck source=scripts/private-apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/private-apt.sh"

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

# Temp dirs (the private apt state, unpacked sources) go when the script
# ends, also when a build fails.
work=""
tmpdirs=()
cleanup_work() { rm -rf "$work" "${tmpdirs[@]}"; }
trap cleanup_work EXIT
newtmp() { # sets REPLY: a command substitution would lose tmpdirs
	REPLY=$(mktemp -d)
	tmpdirs+=("$REPLY")
}

# private_apt prepares, once, an apt configuration of its own that reads only
# the source indexes of the suites named in $@ from the machine's own mirror.
aptopts=()
private_apt() {
	[ ${#aptopts[@]} -eq 0 ] || return 0
	work=$(mktemp -d)
	local mirror suite lines=()
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt/sources.list*"; exit 1; }
	for suite in $(printf '%s\n' "$@" | sort -u); do
		lines+=("deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main")
	done
	private_apt_config "$work" "${lines[@]}"
	apt-get "${aptopts[@]}" update -qq >&2
}

# fetch_orig downloads source package $1 from suite $2 and unpacks its
# upstream tarball into directory $3.
fetch_orig() {
	local pkg="$1" suite="$2" dest="$3" orig
	private_apt "$SRC_SUITE" ${PG_EXTRA_MAJOR:+"$PG_EXTRA_SUITE" "$PGVECTOR_EXTRA_SUITE"}
	log "fetching ${pkg}'s source package (${suite})"
	mkdir -p "$work/dl-$pkg" "$dest"
	(cd "$work/dl-$pkg" && apt-get "${aptopts[@]}" source --download-only "${pkg}/${suite}" >&2)
	orig=$(ls "$work/dl-$pkg"/"${pkg}"_*.orig.tar.* | head -n 1)
	tar -xf "$orig" -C "$dest" --strip-components=1
	log "unpacked $(basename "$orig")"
}

# install_pgvector builds pgvector from suite $2 against the server whose
# pg_config is $1, unless that server already has it.
install_pgvector() {
	local pg_config="$1" suite="$2" sharedir
	sharedir=$("$pg_config" --sharedir)
	if [ -f "${sharedir}/extension/vector.control" ]; then
		log "pgvector already installed for $("$pg_config" --version) ($(grep default_version "${sharedir}/extension/vector.control" | tr -d "'" | awk '{print $3}'))"
		return 0
	fi
	command -v make >/dev/null || apt_install make
	command -v gcc >/dev/null || apt_install gcc
	local src
	newtmp
	src=$REPLY
	fetch_orig pgvector "$suite" "$src"
	patch_pgvector "$pg_config" "$src"
	log "building pgvector for $("$pg_config" --version)"
	make -C "$src" -s PG_CONFIG="$pg_config" OPTFLAGS="" >&2
	sudo_if_needed make -C "$src" -s PG_CONFIG="$pg_config" install >&2
	rm -rf "$src"
	log "pgvector installed: $(grep default_version "${sharedir}/extension/vector.control")"
}

# patch_pgvector adapts pgvector 0.8.0's source in $2 to PostgreSQL 18's
# server API when $1 is an 18+ server: vacuum_delay_point() takes an
# is_analyze argument, and a TupleDesc's attributes are reached through
# TupleDescAttr(). Releases that already build against 18 do not contain the
# old spellings, so the edits then change nothing.
patch_pgvector() {
	local pg_config="$1" src="$2" major
	major=$("$pg_config" --version | awk '{print $2}' | cut -d. -f1)
	[ "$major" -ge 18 ] || return 0
	log "adapting pgvector's source to PostgreSQL ${major}"
	sed -i 's/vacuum_delay_point()/vacuum_delay_point(false)/' "$src"/src/*.c
	sed -i 's/\([a-z_>-]*tupdesc\)->attrs\[\([0-9]*\)\]\./TupleDescAttr(\1, \2)->/' "$src"/src/*.c
}

# install_extra_server builds PostgreSQL $PG_EXTRA_MAJOR from Debian's source
# package into $PG_EXTRA_PREFIX. A marker file written after `make install`
# tells a finished install from an interrupted one, which is rebuilt.
install_extra_server() {
	local marker="${PG_EXTRA_PREFIX}/.pgvecrep-installed"
	if [ -f "$marker" ] && [ -x "${PG_EXTRA_PREFIX}/bin/postgres" ]; then
		log "PostgreSQL ${PG_EXTRA_MAJOR} already installed at ${PG_EXTRA_PREFIX} ($(cat "$marker"))"
		return 0
	fi
	local started=$SECONDS
	log "building PostgreSQL ${PG_EXTRA_MAJOR} into ${PG_EXTRA_PREFIX}"
	apt_install bison flex libreadline-dev zlib1g-dev libssl-dev libicu-dev \
		liblz4-dev libzstd-dev pkg-config make gcc
	local src
	newtmp
	src=$REPLY
	fetch_orig "postgresql-${PG_EXTRA_MAJOR}" "$PG_EXTRA_SUITE" "$src"
	local prepared=$SECONDS
	(cd "$src" && ./configure -q --prefix="$PG_EXTRA_PREFIX" \
		--with-openssl --with-icu --with-lz4 --with-zstd >&2)
	local configured=$SECONDS
	make -C "$src" -s -j"$JOBS" >&2
	sudo_if_needed rm -rf "$PG_EXTRA_PREFIX"
	sudo_if_needed make -C "$src" -s install >&2
	rm -rf "$src"
	"${PG_EXTRA_PREFIX}/bin/pg_config" --version | sudo_if_needed tee "$marker" >/dev/null
	log "PostgreSQL ${PG_EXTRA_MAJOR} installed in $((SECONDS - started)) s" \
		"(dependencies and source $((prepared - started)) s, configure $((configured - prepared)) s," \
		"build and install $((SECONDS - configured)) s)"
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
log "PostgreSQL ${PG_MAJOR} at ${PG_BIN}"

# Server headers and a compiler, only when pgvector is still to be built.
if [ ! -f "/usr/share/postgresql/${PG_MAJOR}/extension/vector.control" ]; then
	if [ ! -x "${PG_BIN}/pg_config" ] || [ ! -d "/usr/include/postgresql/${PG_MAJOR}/server" ]; then
		log "installing postgresql-server-dev-${PG_MAJOR}"
		apt_install "postgresql-server-dev-${PG_MAJOR}" make gcc
	fi
fi

# 2. pgvector for the system's server.
install_pgvector "${PG_BIN}/pg_config" "$SRC_SUITE"

# 3. The newer server and its pgvector, when asked for. A lock keeps two
# concurrent runs (two checkouts on one machine) from building into the same
# prefix at once.
if [ -n "$PG_EXTRA_MAJOR" ]; then
	sudo_if_needed mkdir -p "$PG_EXTRA_ROOT"
	exec 9>"${PG_EXTRA_ROOT}/.install.lock"
	flock 9
	install_extra_server
	install_pgvector "${PG_EXTRA_PREFIX}/bin/pg_config" "$PGVECTOR_EXTRA_SUITE"
fi
