package cli

import (
	"context"
	"fmt"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/preflight"
)

func init() {
	c := &command{
		name:    "config_check",
		summary: "check that source and target are ready for replication (read-only)",
		usage:   "[--copy-schema] [-t t1,t2 | -e t3] [-s schema] [--special-user-role R] [--json]",
		help: `Config_check checks, without creating or changing anything on either side,
that the source and target databases are ready: wal_level, free replication
slots, WAL senders and workers, the connecting users' privileges, a primary
key or replica identity on every selected table, the source's extensions
(pgvector and any other that provides a column type) on the target at the
same or a newer version, pg_dump for --copy-schema, target tables that
are empty and have the source's columns (vector dimensions included), and
that no selected table belongs to another pgvecrep group already (a table
has one group: two would copy it twice and apply each change twice).

Every finding is printed at once, each problem with a hint. The exit code is
1 when any check fails, so scripts can stop before bootstrap.

Example:
  export SOURCE_DB_URL="postgres://postgres:password@source-host:5432/postgres"
  export TARGET_DB_URL="postgres://postgres:password@target-host:5432/postgres"
  pgvecrep config_check --copy-schema
  pgvecrep config_check -t items,docs --json`,
	}
	c.run = func(ctx context.Context, env *Env, args []string) error { return configCheck(ctx, env, c, args) }
	register(c)
}

func configCheck(ctx context.Context, env *Env, c *command, args []string) error {
	f := newFlags(env, c)
	var tf tableFlags
	var copySchema, asJSON bool
	var role string
	tf.add(f, "s")
	f.boolVar(&copySchema, "copy-schema", "c", "tables missing on the target are fine: bootstrap --copy-schema creates them (pg_dump is checked)")
	f.stringVar(&role, "special-user-role", "", "", "role the connecting users belong to, when they are not superusers (e.g. rds_superuser)")
	f.boolVar(&asJSON, "json", "", "print the findings as JSON")
	if err := f.parse(args); err != nil {
		return err
	}
	f.warnArgvPasswords()
	r, err := preflight.Run(ctx, preflightOptions(f, tf, copySchema, role))
	if err != nil {
		return err
	}
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
func preflightOptions(f *flags, tf tableFlags, copySchema bool, role string) preflight.Options {
	src, tgt := f.urls()
	return preflight.Options{SourceURL: src, TargetURL: tgt, Filter: tf.filter(),
		CopySchema: copySchema, SpecialUserRole: role}
}

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
// group's.
func runPreflight(ctx context.Context, env *Env, f *flags, tf tableFlags, groupName string, copySchema bool, role string, quiet bool, emptied ...string) (preflight.Report, error) {
	o := preflightOptions(f, tf, copySchema, role)
	o.Emptied = emptied
	o.Group = groupName
	r, err := preflight.Run(ctx, o)
	if err != nil {
		return r, err
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
		return r, hint.Wrap(fmt.Errorf("config check failed: %d problem(s)", r.Problems()),
			"fix the findings above and run pgvecrep config_check")
	}
	return r, nil
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
