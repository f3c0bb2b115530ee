package copier

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const typesDDL = `
CREATE TABLE items (
  id bigint PRIMARY KEY, v vector(3), h halfvec(3), s sparsevec(5), b bit(4),
  j jsonb, n numeric(20,5), a text[], big text,
  g bigint GENERATED ALWAYS AS (id * 2) STORED);
CREATE TABLE "Wëird ""T"" x" ("Ïd" int, "Some Col" text, "UPPER" numeric);
CREATE SCHEMA "Other Schema";
CREATE TABLE "Other Schema".plain (id int, t text);`

// typesData has a NULL in every column somewhere, and every 50th row a
// ~100kB value that does not compress, so it is stored out of line (TOAST).
const typesData = `
INSERT INTO items (id, v, h, s, b, j, n, a, big)
SELECT i,
  CASE WHEN i % 7 <> 0 THEN ARRAY[i, i / 3.0, -i]::vector END,
  CASE WHEN i % 5 <> 0 THEN ARRAY[i * 0.5, 1, -2]::real[]::halfvec END,
  CASE WHEN i % 6 <> 0 THEN format('{1:%s,4:%s}/5', i, -i / 7.0)::sparsevec END,
  CASE WHEN i % 4 <> 0 THEN (i % 16)::bit(4) END,
  CASE WHEN i % 3 <> 0 THEN jsonb_build_object('i', i, 'l', jsonb_build_array(i, 'x"y', NULL)) END,
  CASE WHEN i % 8 <> 0 THEN i * 1.23456 - 500 END,
  CASE WHEN i % 9 <> 0 THEN ARRAY['a' || i, NULL, 'q"u,o{t}e', ''] END,
  CASE WHEN i % 50 = 0 THEN (SELECT string_agg(md5(random()::text || i || k), '') FROM generate_series(1, 3200) k) END
FROM generate_series(1, 1000) i;
INSERT INTO "Wëird ""T"" x" SELECT i, CASE WHEN i % 2 = 0 THEN 'ünï ' || i END, i / 3.0 FROM generate_series(1, 300) i;
INSERT INTO "Other Schema".plain SELECT i, E'tab\there\nnewline\\' || i FROM generate_series(1, 200) i;`

var typesTables = []string{"public.items", `public."Wëird ""T"" x"`, `"Other Schema".plain`}

func config(t *testing.T, url string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checksum is the row count and the md5 of every row as text, in order.
func checksum(t *testing.T, db pgtest.DB, table pg.Name) string {
	t.Helper()
	return db.QueryStrings(t, `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text)), '')
		FROM `+table.Quoted()+` x`)[0]
}

func tables(t *testing.T, db pgtest.DB, include ...string) []catalog.Table {
	t.Helper()
	ts, err := catalog.Tables(context.Background(), db.Conn(t), catalog.Filter{Include: include})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// recorder collects progress events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) done() int {
	n := 0
	for _, e := range r.events {
		if e.Done {
			n++
		}
	}
	return n
}

func TestCopyTypes(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, typesDDL+typesData)
	tgt.Exec(t, typesDDL)
	ts := tables(t, src, typesTables...)
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_class WHERE oid = (SELECT reltoastrelid FROM pg_class WHERE relname = 'items') AND relpages + pg_relation_size(oid) > 0"); n != 1 {
		t.Fatal("test data did not reach TOAST")
	}
	for _, format := range []string{"binary", "text"} {
		t.Run(format, func(t *testing.T) {
			tgt.Exec(t, `TRUNCATE items, "Wëird ""T"" x", "Other Schema".plain`)
			var rec recorder
			jobs := Plan(ts, 2, 0)
			res, err := Run(context.Background(), jobs, Options{
				Source: config(t, src.URL), Target: config(t, tgt.URL), Jobs: 2, Format: format, Progress: rec.add,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, tb := range ts {
				if s, d := checksum(t, src, tb.Name), checksum(t, tgt, tb.Name); s != d {
					t.Errorf("%s: source %s, target %s", tb.Name, s, d)
				}
			}
			if res.Rows != 1500 || res.Tables[pg.Name{Schema: "public", Name: `Wëird "T" x`}].Rows != 300 || res.Bytes <= 0 {
				t.Errorf("result = %+v", res)
			}
			if rec.done() != len(jobs) {
				t.Errorf("%d done events for %d jobs", rec.done(), len(jobs))
			}
		})
	}
}

func TestCopySplit(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ddl := "CREATE TABLE s (id int, v vector(16), note text)"
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	src.Exec(t, `INSERT INTO s SELECT i, array_fill(i::real, ARRAY[16])::vector, CASE WHEN i % 3 = 0 THEN 'n' || i END
		FROM generate_series(1, 20000) i; ANALYZE s`)
	// Rows on pages relpages does not know yet: the open-ended last range must copy them.
	src.Exec(t, `INSERT INTO s SELECT i, NULL, 'late' FROM generate_series(20001, 22000) i`)
	ts := tables(t, src, "s")
	jobs := Plan(ts, 2, 256<<10)
	if len(jobs) < 4 {
		t.Fatalf("expected several ranges, got %d jobs: %v", len(jobs), jobs)
	}
	var rec recorder
	res, err := Run(context.Background(), jobs, Options{Source: config(t, src.URL), Target: config(t, tgt.URL), Jobs: 2, Progress: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	if s, d := checksum(t, src, ts[0].Name), checksum(t, tgt, ts[0].Name); s != d {
		t.Errorf("split copy differs: source %s, target %s", s, d)
	}
	if res.Rows != 22000 || rec.done() != len(jobs) {
		t.Errorf("rows %d, done events %d for %d jobs", res.Rows, rec.done(), len(jobs))
	}
}

func TestCopyUnderSnapshot(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	ddl := "CREATE TABLE t (id int PRIMARY KEY, v vector(2))"
	src.Exec(t, ddl+"; INSERT INTO t SELECT i, ARRAY[i, i]::vector FROM generate_series(1, 100) i")
	tgt.Exec(t, ddl)
	before := checksum(t, src, pg.Name{Schema: "public", Name: "t"})

	slot, err := replication.CreateSlot(ctx, config(t, src.URL), "pgvecrep_copier_test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = replication.DropSlot(ctx, src.Conn(t), slot.Name) }()
	defer slot.Close(ctx)
	src.Exec(t, "INSERT INTO t VALUES (101, '[0,0]'); UPDATE t SET v = '[9,9]' WHERE id = 1; DELETE FROM t WHERE id = 2")

	_, err = Run(ctx, Plan(tables(t, src, "t"), 2, 0), Options{
		Source: config(t, src.URL), Target: config(t, tgt.URL), Snapshot: slot.SnapshotName, Jobs: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := checksum(t, tgt, pg.Name{Schema: "public", Name: "t"}); got != before {
		t.Errorf("target %s, want the snapshot's %s", got, before)
	}
}

func TestCopyErrors(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE "Odd ""One""" (id int, x text); INSERT INTO "Odd ""One""" VALUES (1, 'a')`)
	tgt.Exec(t, `CREATE TABLE "Odd ""One""" (id int)`)
	opts := Options{Source: config(t, src.URL), Target: config(t, tgt.URL), Jobs: 2}
	odd := pg.Name{Schema: "public", Name: `Odd "One"`}
	tests := []struct {
		name string
		job  Job
		want string
	}{
		{"target lacks a column", Job{Table: odd, Columns: []string{"id", "x"}}, `copy public."Odd ""One""": write target:`},
		{"source lacks the table", Job{Table: pg.Name{Schema: "public", Name: "nope"}}, `copy public.nope: read source:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), []Job{tt.job}, opts)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
	if _, err := Run(context.Background(), nil, Options{Format: "csv"}); err == nil {
		t.Error("format csv accepted")
	}
}
