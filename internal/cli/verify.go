package cli

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/verify"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "compare source and target: schemas, row counts, checksums, nearest-neighbour parity",
		usage:   "--group-name GROUP [-t t1,t2] [--schema-only] [--sample K] [--jobs N] [--json]",
		help: `Verify compares the group's tables on the source and the target while
replication runs, and exits 1 when they diverge.

First it compares the tables' schemas: columns (type with its modifier, so
vector(1536) and vector(768) differ; default, generated, identity,
collation, NOT NULL), constraints (NOT VALID and DEFERRABLE included),
indexes (definition, validity, replica identity, CLUSTER ON, tablespace),
the table's replica identity, triggers, row-level security and its
policies, comments, and the definitions of the sequences the tables own or
use in defaults (not their current values, which switchover copies). Each
difference is one line: object, aspect, source, target, e.g.
  index app.tags_sku_tag: replica identity: source yes, target no
A foreign key to a table outside the group is NOT VALID on the target on
purpose (start_sync builds it so): it is a note, not a difference.
pgvecrep's own objects are never compared. --schema-only stops there: no
rows, no nearest neighbours, no wait for the subscription.

For each table it counts the rows and compares checksums over ranges of the
primary key (--chunk-rows rows each); a range that differs is read again once
the subscription has caught up with the source, so changes still in flight
are not reported, and what still differs is narrowed down to the keys that
are missing, extra or different on the target.

For each vector index (pgvector's l2, inner product, cosine and l1 operator
classes on vector and halfvec) it draws --sample query vectors from the
source and checks that the exact top 10 (index scans off) is the same on both
sides, then measures each side's index recall against its own exact answer:
approximate indexes are built separately on each side and may legitimately
differ, exact answers may not.

--jobs tables (then tables' vector indexes) are checked at once, each on its
own pair of source and target sessions; the report lists them in the same
order whatever the number of jobs. --jobs 1 checks them one after another.

Examples:
  pgvecrep verify --group-name database-cluster-1
  pgvecrep verify -g database-cluster-1 --schema-only
  pgvecrep verify -g database-cluster-1 -t items,'app."Odd Table"' --json`,
		run: runVerify,
	})
}

// verifyArgs are verify's flags.
type verifyArgs struct {
	group, schema, tables string
	sample, chunkRows     int
	jobs                  int
	drainTimeout          time.Duration
	asJSON, schemaOnly    bool
}

func (a *verifyArgs) add(f *flags) {
	f.stringVar(&a.group, "group-name", "g", "", "name of the replication group")
	f.stringVar(&a.tables, "tables", "t", "", "only these tables of the group, comma-separated; table or schema.table")
	f.stringVar(&a.schema, "schema-name", "s", "public", "schema of the tables named without one in --tables")
	f.intVar(&a.sample, "sample", "", 20, 0, "query vectors per vector index; 0 skips the nearest-neighbour checks")
	f.intVar(&a.chunkRows, "chunk-rows", "", 10000, 1, "rows per checksum range")
	f.intVar(&a.jobs, "jobs", "", min(runtime.NumCPU(), 4), 1, "tables checked at once, each worker on its own source and target sessions")
	f.durationVar(&a.drainTimeout, "drain-timeout", "", time.Minute, "longest wait for the replication lag to drain before a re-check")
	f.boolVar(&a.schemaOnly, "schema-only", "", "compare only the tables' schemas, not their rows and nearest neighbours")
	f.boolVar(&a.asJSON, "json", "", "print JSON")
}

func runVerify(ctx context.Context, env *Env, args []string) error {
	c := commands["verify"]
	f := newFlags(env, c)
	var a verifyArgs
	a.add(f)
	s, err := f.open(ctx, args, preamble{group: &a.group, source: required, target: required, load: true})
	if err != nil {
		return err
	}
	defer s.close()
	src, tgt, g := s.src, s.tgt, s.group
	tables, err := a.selectTables(ctx, src, g)
	if err != nil {
		return err
	}
	sample := a.sample
	if sample <= 0 {
		sample = -1 // verify.Options: negative skips, 0 would mean the default
	}
	// Progress goes to stderr: stdout is the report (or its JSON).
	p, start := progress.NewAuto(env.Stderr), time.Now()
	opts := verify.Options{Tables: tables, Sample: sample,
		Subscription: g.ObjectName, MoreSlots: g.StreamNames()[1:], ChunkRows: a.chunkRows, DrainTimeout: a.drainTimeout, Progress: p.Printf,
		Jobs: a.jobs, Source: s.srcCfg, Target: s.tgtCfg,
		Schema: true, SchemaOnly: a.schemaOnly, Replicated: g.Tables}
	leader, follower, reverse, err := verifyDirection(ctx, src, tgt, g, &opts)
	if err != nil {
		return err
	}
	rep, err := verify.Run(ctx, leader, follower, opts)
	if err != nil {
		return err
	}
	if reverse != "" {
		rep.Notes = append(rep.Notes, reverse)
	}
	p.Printf("verified %d table(s) in %s", len(tables), progress.Seconds(time.Since(start)))
	if n := phaseNote(g); n != "" {
		rep.Notes = append(rep.Notes, n)
	}
	return writeVerify(env, rep, a.asJSON)
}

// phaseNote says when the group's phase explains differences by itself.
func phaseNote(g group.Group) string {
	switch {
	case g.Phase.Busy():
		return fmt.Sprintf("group %s is still %s: tables not copied yet differ", g.Name, g.Phase)
	case g.Phase == group.Failed || g.Phase == group.Stopped:
		return fmt.Sprintf("group %s is %s: the target is not receiving changes", g.Name, g.Phase)
	}
	return ""
}

func writeVerify(env *Env, rep verify.Report, asJSON bool) error {
	var err error
	if asJSON {
		err = rep.WriteJSON(env.Stdout)
	} else {
		err = rep.WriteTable(env.Stdout)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return &exitError{code: 1, err: errSilent}
	}
	return nil
}

// selectTables is the group's tables, or those of --tables, which must all
// belong to the group.
func (a *verifyArgs) selectTables(ctx context.Context, src *pgx.Conn, g group.Group) ([]pg.Name, error) {
	if len(g.Tables) == 0 {
		return nil, hint.New(fmt.Sprintf("group %s has no tables yet (phase %s)", g.Name, g.Phase),
			"start replicating first: pgvecrep start_sync --group-name "+g.Name)
	}
	inGroup := map[pg.Name]bool{}
	var names []string
	for _, n := range g.Tables {
		inGroup[n] = true
		names = append(names, n.String())
	}
	if strings.TrimSpace(a.tables) == "" {
		return g.Tables, nil
	}
	picked, err := catalog.Tables(ctx, src, catalog.Filter{Schema: a.schema, Include: []string{a.tables}})
	if err != nil {
		return nil, err
	}
	var out []pg.Name
	for _, t := range picked {
		if !inGroup[t.Name] {
			return nil, &exitError{code: 2, err: hint.New(fmt.Sprintf("table %s is not in group %s", t.Name, g.Name),
				"the group has: "+strings.Join(names, ", "))}
		}
		out = append(out, t.Name)
	}
	return out, nil
}
