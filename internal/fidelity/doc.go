// Package fidelity holds pgvecrep's generated fidelity matrix: table shapes
// (keys, partitioning, inheritance, column kinds, vector types and indexes,
// constraints) crossed with a workload (inserts, updates of plain and
// TOASTed columns, key updates, deletes, truncates) run during the copy,
// while streaming and through the switchover. Every case ends with the same
// rows on both sides (an ordered checksum of every table) and
// `verify --schema-only` passing: nothing start_sync drops and rebuilds may
// come back different.
//
// The package has no code of its own: its tests drive the CLI as a user
// does. `make test` runs the fixed matrix, one table per shape the suite
// names. PGVECREP_FIDELITY_SEED=N (with PGVECREP_FIDELITY_TABLES=M, default
// 40) adds a randomized run: M tables of random shapes and a random
// workload drawn from the seed, which the test prints so that a failure can
// be rerun exactly; PGVECREP_FIDELITY_SEED=random draws a seed.
package fidelity
