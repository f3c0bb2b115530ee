package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
)

func init() {
	register(&command{
		name:    "demo",
		summary: "run the tutorial end to end on two throwaway local clusters",
		usage:   "[--keep]",
		help: `Demo starts two throwaway PostgreSQL clusters on this machine (a source and a
target, with pgvector), and runs the logical replication tutorial step by
step with pgvecrep: the extension, a vector(10) table with an HNSW index, 100
rows, the nearest-neighbour query, config_check, bootstrap --copy-schema,
start_sync, the query on both sides, 100 more rows, the query again, verify,
then a switchover, the source stopped, and the query on the target alone.

At each step it prints the source's and the target's top 10 side by side. It
exits 0 only when they are identical, and removes the clusters at the end
(--keep leaves them running and prints their URLs).

It needs the PostgreSQL server binaries and pgvector: make demo installs them
(scripts/install-deps.sh) and runs this command.

Example:
  make demo`,
		run: runDemo,
	})
}

// demoQuery is the tutorial's query vector.
const demoQuery = "[0.40671515, 0.24202824, 0.37059402, 0.50316447, 0.10779921, 0.80774295, 0.8879849, 0.31292745, 0.05584943, 0.8738258]"

const demoGroup = "database-cluster-1"

// demo holds the two clusters and what the steps share.
type demo struct {
	env      *Env
	src, tgt *localpg.Cluster
	sub      *Env // the Env pgvecrep's own commands run with
	failures int
}

func runDemo(ctx context.Context, env *Env, args []string) error {
	c := commands["demo"]
	f := newFlags(env, c)
	var keep bool
	f.boolVar(&keep, "keep", "", "leave the clusters running at the end")
	if err := f.parse(args); err != nil {
		return err
	}
	d := &demo{env: env}
	if err := d.start(ctx); err != nil {
		return err
	}
	if !keep {
		defer d.stop()
	}
	err := d.run(ctx)
	if keep {
		fmt.Fprintf(env.Stdout, "\nClusters left running:\n  SOURCE_DB_URL=%s\n  TARGET_DB_URL=%s\n", d.src.URL("postgres"), d.tgt.URL("postgres"))
	}
	if err != nil {
		return err
	}
	if d.failures > 0 {
		return hint.New(fmt.Sprintf("demo: source and target differed at %d step(s)", d.failures),
			"run pgvecrep demo --keep and compare the two databases")
	}
	fmt.Fprintln(env.Stdout, "\nDemo passed: the target answered every query exactly as the source did.")
	return nil
}

func (d *demo) start(ctx context.Context) error {
	bin, err := localpg.FindBinDir()
	if err != nil {
		return hint.Wrap(err, "run make demo (it installs PostgreSQL and pgvector), or scripts/install-deps.sh")
	}
	if !localpg.HasVector(bin) {
		return hint.New("pgvector is not installed for "+bin, "run scripts/install-deps.sh (or make demo)")
	}
	d.step("Deploying two PostgreSQL clusters (wal_level=logical)")
	if d.src, err = localpg.Start(ctx, localpg.Options{}); err != nil {
		return fmt.Errorf("start source cluster: %w", err)
	}
	if d.tgt, err = localpg.Start(ctx, localpg.Options{}); err != nil {
		_ = d.src.Stop()
		return fmt.Errorf("start target cluster: %w", err)
	}
	fmt.Fprintf(d.env.Stdout, "source: %s\ntarget: %s\n", d.src.URL("postgres"), d.tgt.URL("postgres"))
	urls := map[string]string{"SOURCE_DB_URL": d.src.URL("postgres"), "TARGET_DB_URL": d.tgt.URL("postgres")}
	d.sub = &Env{Stdout: d.env.Stdout, Stderr: d.env.Stderr, Getenv: func(k string) string {
		if v, ok := urls[k]; ok {
			return v
		}
		return d.env.Getenv(k)
	}}
	return nil
}

func (d *demo) stop() {
	d.step("Removing the clusters")
	_ = d.src.Stop()
	_ = d.tgt.Stop()
}

func (d *demo) step(title string) {
	fmt.Fprintf(d.env.Stdout, "\n== %s\n", title)
}

func (d *demo) run(ctx context.Context) error {
	d.step("Creating extension vector, table test (vector(10)) and an HNSW index on both sides")
	for _, c := range []*localpg.Cluster{d.src, d.tgt} {
		if err := c.Exec(ctx, "postgres", `CREATE EXTENSION IF NOT EXISTS vector;
			DROP TABLE IF EXISTS test;
			CREATE TABLE test (id integer PRIMARY KEY, embedding vector(10) NOT NULL);
			CREATE INDEX ON test USING hnsw (embedding vector_l2_ops);`); err != nil {
			return fmt.Errorf("prepare tables: %w", err)
		}
	}
	d.step("Inserting 100 rows on the source")
	if err := d.insert(ctx, 1, 100); err != nil {
		return err
	}
	if err := d.compare(ctx, "Before replication (the target is empty)", false); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"config_check"},
		{"bootstrap", "--group-name", demoGroup, "--copy-schema"},
		{"start_sync", "--group-name", demoGroup},
	} {
		d.step("pgvecrep " + strings.Join(args, " "))
		if code := d.sub.run(ctx, args); code != 0 {
			return fmt.Errorf("demo: pgvecrep %s exited %d", args[0], code)
		}
	}
	if err := d.compare(ctx, "After start_sync", true); err != nil {
		return err
	}
	d.step("Inserting 100 more rows on the source")
	if err := d.insert(ctx, 101, 200); err != nil {
		return err
	}
	if err := d.waitRows(ctx, 200); err != nil {
		return err
	}
	if err := d.compare(ctx, "After 100 more rows", true); err != nil {
		return err
	}
	d.step("pgvecrep stats --group-name " + demoGroup)
	d.sub.run(ctx, []string{"stats", "--group-name", demoGroup})
	d.step("pgvecrep verify --group-name " + demoGroup)
	if code := d.sub.run(ctx, []string{"verify", "--group-name", demoGroup}); code != 0 {
		d.failures++
	}
	return d.finish(ctx)
}

// finish moves to the target: a switchover, then the source goes down and
// the tutorial's query runs on the target alone.
func (d *demo) finish(ctx context.Context) error {
	d.step("pgvecrep switchover --group-name " + demoGroup)
	if code := d.sub.run(ctx, []string{"switchover", "--group-name", demoGroup}); code != 0 {
		return fmt.Errorf("demo: pgvecrep switchover exited %d", code)
	}
	d.step("Stopping the source (pg_ctl stop -m immediate)")
	want, err := d.query(ctx, d.src)
	if err != nil {
		return err
	}
	if err := d.src.Kill(ctx); err != nil {
		return fmt.Errorf("stop the source: %w", err)
	}
	d.step("The target alone answers the tutorial's query")
	got, err := d.query(ctx, d.tgt)
	if err != nil {
		return err
	}
	if printSideBySide(d.env.Stdout, want, got) {
		fmt.Fprintln(d.env.Stdout, "identical to the source's last answer ✓")
	} else {
		fmt.Fprintln(d.env.Stdout, "DIFFERENT ✗")
		d.failures++
	}
	if _, err := d.tgtExec(ctx, "INSERT INTO test VALUES (201, '[1,1,1,1,1,1,1,1,1,1]')"); err != nil {
		return fmt.Errorf("the target does not take writes after the switchover: %w", err)
	}
	fmt.Fprintln(d.env.Stdout, "the target takes writes ✓")
	return nil
}

func (d *demo) tgtExec(ctx context.Context, sql string) (int64, error) {
	conn, err := d.tgt.Connect(ctx, "postgres")
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(ctx, sql)
	return tag.RowsAffected(), err
}

// insert adds rows with ten random values each (the tutorial's arrays have
// nine, which vector(10) rejects), seeded so every run shows the same data.
func (d *demo) insert(ctx context.Context, from, to int) error {
	conn, err := d.src.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT setseed($1)", float64(from)/1000); err != nil {
		return err
	}
	// The subquery refers to i so that each row gets its own random values.
	_, err = conn.Exec(ctx, `INSERT INTO test
		SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 10) WHERE i > 0)::real[]::vector
		FROM generate_series($1::int, $2::int) i`, from, to)
	if err != nil {
		return fmt.Errorf("insert rows: %w", err)
	}
	return nil
}

// waitRows waits until the target has n rows: replication is asynchronous.
func (d *demo) waitRows(ctx context.Context, n int64) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := d.count(ctx, d.tgt)
		if err != nil {
			return err
		}
		if got == n {
			fmt.Fprintf(d.env.Stdout, "target has all %d rows\n", n)
			return nil
		}
		if time.Now().After(deadline) {
			return hint.New(fmt.Sprintf("demo: target has %d rows after 60s, want %d", got, n), "run pgvecrep stats to see the lag")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *demo) count(ctx context.Context, c *localpg.Cluster) (int64, error) {
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM test").Scan(&n)
	return n, err
}

// neighbour is one row of the tutorial query's answer.
type neighbour struct {
	ID   int32
	Dist float64
}

func (d *demo) query(ctx context.Context, c *localpg.Cluster) ([]neighbour, error) {
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id, embedding <-> $1::vector FROM test ORDER BY embedding <-> $1::vector LIMIT 10", demoQuery)
	if err != nil {
		return nil, fmt.Errorf("nearest-neighbour query: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[neighbour])
}

// compare prints both sides' top 10 side by side; when wantSame, a difference
// counts as a failure.
func (d *demo) compare(ctx context.Context, title string, wantSame bool) error {
	d.step(title + ": SELECT id FROM test ORDER BY embedding <-> '[0.406…]' LIMIT 10")
	a, err := d.query(ctx, d.src)
	if err != nil {
		return err
	}
	b, err := d.query(ctx, d.tgt)
	if err != nil {
		return err
	}
	same := printSideBySide(d.env.Stdout, a, b)
	switch {
	case wantSame && same:
		fmt.Fprintln(d.env.Stdout, "identical ✓")
	case wantSame:
		fmt.Fprintln(d.env.Stdout, "DIFFERENT ✗")
		d.failures++
	}
	return nil
}

func printSideBySide(w io.Writer, a, b []neighbour) bool {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rank\tsource id\tdistance\t\ttarget id\tdistance\t")
	same := len(a) == len(b)
	for i := 0; i < max(len(a), len(b)); i++ {
		cols := []string{fmt.Sprint(i + 1), "", "", "", "", ""}
		if i < len(a) {
			cols[1], cols[2] = fmt.Sprint(a[i].ID), fmt.Sprintf("%.4f", a[i].Dist)
		}
		if i < len(b) {
			cols[4], cols[5] = fmt.Sprint(b[i].ID), fmt.Sprintf("%.4f", b[i].Dist)
		}
		if i >= len(a) || i >= len(b) || a[i].ID != b[i].ID {
			same = false
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	tw.Flush()
	if len(a) == 0 && len(b) == 0 {
		fmt.Fprintln(w, "(0 rows on both sides)")
	}
	return same
}
