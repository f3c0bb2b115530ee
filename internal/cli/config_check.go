package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/preflight"
)

func init() {
	c := &command{
		name:    "config_check",
		summary: "check that source and target are ready for replication (read-only)",
		usage:   "[--copy-schema] [-t t1,t2 | -e t3] [-s schema] [--special-user-role R] [--replica-identity-full] [--apply-workers N] [--json]",
		help: `Config_check checks, without creating or changing anything on either side,
that the source and target databases are ready: wal_level, free replication
slots, WAL senders and workers, the connecting users' privileges, a primary
key or replica identity on every selected table, the source's extensions
(pgvector and any other that provides a column type) on the target at the
same or a newer version, pg_dump for --copy-schema, target tables that
are empty and have the source's columns (vector dimensions included), and
that no selected table belongs to another pgvecrep group already (a table
has one group: two would copy it twice and apply each change twice).

A table without a primary key and without a replica identity (pgbench's
pgbench_history, event and log tables) replicates its inserts, but once it
is published an UPDATE or DELETE on it fails on the source. It is a warning
when the source's statistics (pg_stat_user_tables, since stats_reset) show
no updated or deleted rows, and an error when they show some. With
--replica-identity-full, start_sync sets REPLICA IDENTITY FULL on such
tables on the source, and their updates and deletes replicate too, at a
cost: each one writes the whole old row to the WAL, and the target's apply
worker finds the row by scanning the table, without an index.

With --apply-workers N (start_sync's flag of the same name), the capacity
checks count N apply streams: N free replication slots and N WAL senders
on the source, N logical replication workers on the target (each stream's
table sync workers too in --copy-mode native) and room for them in
max_worker_processes. Each finding says what the streams need, and its
hint the setting that would be enough. More than 16 streams is an error.

Every finding is printed at once, each problem with a hint. The exit code is
1 when any check fails, so scripts can stop before bootstrap.

Example:
  export SOURCE_DB_URL="postgres://postgres:password@source-host:5432/postgres"
  export TARGET_DB_URL="postgres://postgres:password@target-host:5432/postgres"
  pgvecrep config_check --copy-schema
  pgvecrep config_check -t items,docs --json
  pgvecrep config_check --apply-workers 4`,
	}
	c.run = func(ctx context.Context, env *Env, args []string) error { return configCheck(ctx, env, c, args) }
	register(c)
}

func configCheck(ctx context.Context, env *Env, c *command, args []string) error {
	f := newFlags(env, c)
	var tf tableFlags
	var copySchema, asJSON, identityFull bool
	var streams int
	var role string
	tf.add(f, "s")
	f.boolVar(&copySchema, "copy-schema", "c", "tables missing on the target are fine: bootstrap --copy-schema creates them (pg_dump is checked)")
	f.stringVar(&role, "special-user-role", "", "", "role the connecting users belong to, when they are not superusers (e.g. rds_superuser)")
	f.boolVar(&identityFull, "replica-identity-full", "", replicaIdentityFullUsage)
	f.boolVar(&asJSON, "json", "", "print the findings as JSON")
	f.intVar(&streams, "apply-workers", "", 1, 1, "count the slots, WAL senders and apply workers of start_sync --apply-workers N")
	if err := f.parse(args); err != nil {
		return err
	}
	f.warnArgvPasswords()
	filter, err := checkFilter(ctx, f, tf)
	if err != nil {
		return err
	}
	o := preflightOptions(f, filter, copySchema, role)
	o.ReplicaIdentityFull = identityFull
	o.ApplyStreams = streams
	r, err := preflight.Run(ctx, o)
	if err != nil {
		return err
	}
	explainNoTables(ctx, f, &r, tf)
	if asJSON {
		err = r.WriteJSON(env.Stdout)
	} else {
		err = writeVerdict(env, r)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if !r.OK() {
		return &exitError{code: 1, err: errSilent}
	}
	return nil
}

// preflightOptions are the checks' options from the command's flags.
func preflightOptions(f *flags, filter catalog.Filter, copySchema bool, role string) preflight.Options {
	src, tgt := f.urls()
	return preflight.Options{SourceURL: src, TargetURL: tgt, Filter: filter,
		CopySchema: copySchema, SpecialUserRole: role}
}

// checkFilter resolves the table flags for the checks, which connect on
// their own: only several schemas (-s app,audit) need a connection to the
// source, to list their tables.
func checkFilter(ctx context.Context, f *flags, tf tableFlags) (catalog.Filter, error) {
	if !tf.multiSchema() {
		return tf.filter(ctx, nil)
	}
	src, _, err := f.dial(ctx, pg.Source)
	if err != nil {
		return catalog.Filter{}, err
	}
	defer src.Close(context.Background())
	return tf.filter(ctx, src)
}

// replicaIdentityFullUsage is --replica-identity-full's help, the same on
// config_check and start_sync.
const replicaIdentityFullUsage = "tables without a primary key or replica identity: start_sync sets REPLICA IDENTITY FULL on them on the source, " +
	"so their updates and deletes replicate instead of failing on the source; cost: each update and delete writes the whole old row to the WAL, " +
	"and the target finds the row by scanning the table, without an index"

// writeVerdict prints the findings table, then one line that says it all.
func writeVerdict(env *Env, r preflight.Report) error {
	if err := r.WriteTable(env.Stdout); err != nil {
		return err
	}
	if r.OK() {
		_, err := fmt.Fprintln(env.Stdout, "\nConfig is looking good.")
		return err
	}
	_, err := fmt.Fprintf(env.Stdout, "\n%d problem(s) found.\n", r.Problems())
	return err
}

// runPreflight runs the config_check checks for a command that goes on to
// create things (start_sync), so that nothing is created when one fails.
// Unless quiet, the findings table goes to stdout; when quiet, only warnings
// and errors are printed, to stderr. When a check fails the error says how
// many did, with a hint to run config_check. Emptied are target tables the
// command truncates once the checks pass (start_sync --truncate-target).
// groupName is the group the command starts: its own tables are not another
// group's. identityFull is --replica-identity-full.
func runPreflight(ctx context.Context, env *Env, f *flags, tf tableFlags, groupName string, copySchema bool, role string, identityFull, quiet bool, streams int, emptied ...string) (preflight.Report, error) {
	filter, err := checkFilter(ctx, f, tf)
	if err != nil {
		return preflight.Report{}, err
	}
	o := preflightOptions(f, filter, copySchema, role)
	o.Emptied = emptied
	o.Group = groupName
	o.ReplicaIdentityFull = identityFull
	o.ApplyStreams = streams
	r, err := preflight.Run(ctx, o)
	if err != nil {
		return r, err
	}
	explainNoTables(ctx, f, &r, tf)
	if !copySchema {
		bootstrapCopiesSchema(&r, groupName)
	}
	if !quiet {
		err = r.WriteTable(env.Stdout)
	} else if notable := notableFindings(r); len(notable.Findings) > 0 {
		err = notable.WriteTable(env.Stderr)
	}
	if err != nil {
		return r, fmt.Errorf("write config check findings: %w", err)
	}
	if !r.OK() {
		args := selectionArgs(f, tf)
		if streams > 1 {
			args = append(args, "--apply-workers", strconv.Itoa(streams))
		}
		again := strings.Join(append([]string{"pgvecrep config_check"}, args...), " ")
		return r, hint.Wrap(fmt.Errorf("config check failed: %d problem(s)", r.Problems()),
			"fix the findings above; "+again+" checks again")
	}
	return r, nil
}

// bootstrapCopiesSchema points the hints that say "use --copy-schema" at
// the command that has that flag: start_sync has none; bootstrap copies
// the schema.
func bootstrapCopiesSchema(r *preflight.Report, groupName string) {
	for i, f := range r.Findings {
		r.Findings[i].Hint = strings.ReplaceAll(f.Hint, "use --copy-schema",
			"run pgvecrep bootstrap -g "+shellQuote(groupName)+" --copy-schema")
	}
}

// noTablesFinding is the index of the finding that no table was selected,
// or -1.
func noTablesFinding(r preflight.Report) int {
	return slices.IndexFunc(r.Findings, func(f preflight.Finding) bool {
		return f.Check == "tables" && f.Status == preflight.StatusError && strings.HasPrefix(f.Detail, "no tables selected")
	})
}

// notableFindings is r with only its warnings and errors.
func notableFindings(r preflight.Report) preflight.Report {
	out := preflight.Report{Tables: r.Tables}
	for _, f := range r.Findings {
		if f.Status != preflight.StatusOK {
			out.Findings = append(out.Findings, f)
		}
	}
	return out
}
