// Package upgrade holds pgvecrep's cross-version tests: the commands a user
// runs for a major-version upgrade, end to end, from a PostgreSQL 15 source
// to a PostgreSQL 18 target (and the 18 -> 15 downgrade that preflight warns
// about), on real local clusters of both versions.
//
// The package has no code of its own: its tests drive the CLI exactly as a
// user does. They need the newer server scripts/install-deps.sh builds with
// PG_EXTRA_MAJOR=18 (make deps does); without it they fail, saying so, or
// skip under PGVECREP_REQUIRE_PG=0 (see internal/testenv).
package upgrade
