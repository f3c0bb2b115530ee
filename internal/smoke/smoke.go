// Package smoke holds pg_easy_replicate 0.4.0's own end-to-end smoke test
// (spec/smoke_spec.rb with scripts/e2e-bootstrap.sh and e2e-start.sh), run
// against pgvecrep on real local clusters: the proof that pgvecrep is a
// drop-in for the command lines and the behaviour its users' scripts rely
// on, pgbench's keyless history table and the frozen source's read-only
// error included. The package has no code of its own: only tests.
package smoke
