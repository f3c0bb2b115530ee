# private-apt.sh — sourced by install-deps.sh and install-bench-deps.sh. An apt
# configuration of their own (sources list, state and cache under a directory
# they own), so that fetching a package from another suite leaves the
# system's package setup and lists untouched. The mirror is the machine's own.

# debian_mirror prints the first Debian URI of the machine's own apt sources
# (deb822 .sources files first, then sources.list), or nothing.
debian_mirror() {
	local mirror="" f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		mirror=$(awk '/^URIs:/ {print $2; exit}' "$f")
		[ -n "$mirror" ] && case "$mirror" in */debian) break ;; *) mirror="" ;; esac
	done
	if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
		mirror=$(awk '$1 == "deb" && $0 ~ /\/debian / {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
	fi
	printf '%s' "$mirror"
}

# private_apt_config DIR LINE... writes an apt configuration under DIR whose
# sources list is the given lines, and sets the array aptopts, the options
# that make apt-get use it.
private_apt_config() {
	local dir="$1"
	shift
	mkdir -p "$dir/etc/sources.list.d" "$dir/etc/preferences.d" "$dir/state/lists/partial" "$dir/cache/archives/partial"
	printf '%s\n' "$@" >"$dir/etc/sources.list"
	aptopts=(
		-o "Dir::Etc::SourceList=$dir/etc/sources.list"
		-o "Dir::Etc::SourceParts=$dir/etc/sources.list.d"
		-o "Dir::Etc::Preferences=$dir/etc/preferences"
		-o "Dir::Etc::PreferencesParts=$dir/etc/preferences.d"
		-o "Dir::State=$dir/state"
		-o "Dir::State::Lists=$dir/state/lists"
		-o "Dir::Cache=$dir/cache"
		-o "Debug::NoLocking=1"
		-o "APT::Sandbox::User=root"
	)
}
