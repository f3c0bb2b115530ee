package initsync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/verify"
)

// appDDL is created on both sides: a hash-partitioned table with an HNSW
// index and a STORED generated column on the parent, a range-partitioned
// table whose 2024 partition is list-partitioned again, and a plain table
// with a generated column.
const appDDL = `
CREATE TABLE items (id bigint NOT NULL, tenant int NOT NULL, embedding vector(4) NOT NULL,
    label text GENERATED ALWAYS AS ('tenant ' || tenant) STORED, PRIMARY KEY (id, tenant)) PARTITION BY HASH (tenant);
CREATE TABLE items_0 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE items_1 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE items_2 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 2);
CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops);
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, region text NOT NULL, note text,
    PRIMARY KEY (id, at, region)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (region);
CREATE TABLE events_2024_eu PARTITION OF events_2024 FOR VALUES IN ('eu');
CREATE TABLE events_2024_us PARTITION OF events_2024 FOR VALUES IN ('us');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX events_note_idx ON events (note);
CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL, body_len int GENERATED ALWAYS AS (length(body)) STORED);`

// The target holds logs partitioned another way than the source: its rows
// must go through the root, which routes them.
const (
	srcLogs = `CREATE TABLE logs (id int PRIMARY KEY, msg text) PARTITION BY RANGE (id);
CREATE TABLE logs_a PARTITION OF logs FOR VALUES FROM (0) TO (1000);
CREATE TABLE logs_b PARTITION OF logs FOR VALUES FROM (1000) TO (100000);`
	tgtLogs = `CREATE TABLE logs (id int PRIMARY KEY, msg text) PARTITION BY RANGE (id);
CREATE TABLE logs_all PARTITION OF logs DEFAULT;`
)

// appRows fills the source; a column dropped there first leaves a hole in
// the source's rows that the target does not have.
const appRows = `
ALTER TABLE docs ADD COLUMN junk text;
INSERT INTO items (id, tenant, embedding) SELECT i, i % 7, ARRAY[random(), random(), random(), random()]::real[]::vector
    FROM generate_series(1, 3000) i;
INSERT INTO events SELECT i, DATE '2024-01-01' + (i % 700), CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, 'n' || i
    FROM generate_series(1, 2000) i WHERE DATE '2024-01-01' + (i % 700) < DATE '2025-01-01' OR i % 2 = 0;
INSERT INTO docs (id, body, junk) SELECT i, repeat('x', i % 50), 'gone' FROM generate_series(1, 500) i;
ALTER TABLE docs DROP COLUMN junk;
INSERT INTO logs SELECT i, 'm' || i FROM generate_series(1, 3000) i;`

// checksums are the ordered checksum of every table, for comparing sides.
var checksums = map[string]string{
	"items":  `SELECT md5(string_agg(x::text, '|' ORDER BY id, tenant)) FROM items x`,
	"events": `SELECT md5(string_agg(x::text, '|' ORDER BY id, at, region)) FROM events x`,
	"docs":   `SELECT md5(string_agg(x::text, '|' ORDER BY id)) FROM docs x`,
	"logs":   `SELECT md5(string_agg(x::text, '|' ORDER BY id)) FROM logs x`,
}

func TestPartitionedStartSync(t *testing.T) {
	for _, mode := range []string{Fast, Native} {
		t.Run(mode, func(t *testing.T) { testPartitioned(t, mode) })
	}
}

func testPartitioned(t *testing.T, mode string) {
	src, tgt, sconn, tconn, opts, out := setupApp(t, mode)
	ctx := context.Background()
	if err := Start(ctx, sconn, tconn, opts); err != nil {
		t.Fatalf("start_sync: %v\n%s", err, out.String())
	}
	checkApp(t, src, tgt, tconn)
}

// TestPartitionedFailure fails a fast start_sync after the copy: the
// rollback must put every partitioned index back (valid, on every leaf),
// and the next run must complete.
func TestPartitionedFailure(t *testing.T) {
	src, tgt, sconn, tconn, opts, out := setupApp(t, Fast)
	boom := errors.New("injected failure")
	opts.Hook = func(p string) error {
		if p == "before-indexes" {
			return boom
		}
		return nil
	}
	ctx := context.Background()
	if err := Start(ctx, sconn, tconn, opts); !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want the injected failure\n%s", err, out.String())
	}
	pgtest.AssertNoReplication(t, src, tgt)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM items"); n != 0 {
		t.Errorf("target keeps %d partly copied rows", n)
	}
	assertIndexes(t, src, tgt)
	opts.Hook = nil
	// A failure cancels the run's statements in flight, and pgx closes a
	// connection whose statement is cancelled (the rollback reconnects for
	// itself); the next run gets connections of its own, as each
	// pgvecrep command does.
	if sconn.IsClosed() {
		sconn = src.Conn(t)
	}
	if tconn.IsClosed() {
		tconn = tgt.Conn(t)
	}
	if err := Start(ctx, sconn, tconn, opts); err != nil {
		t.Fatalf("start_sync after the failure: %v\n%s", err, out.String())
	}
	checkApp(t, src, tgt, tconn)
}

func setupApp(t *testing.T, mode string) (pgtest.DB, pgtest.DB, *pgx.Conn, *pgx.Conn, Options, *strings.Builder) {
	t.Helper()
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, appDDL+srcLogs)
	tgt.Exec(t, appDDL+tgtLogs)
	src.Exec(t, appRows)
	src.Exec(t, "ANALYZE")
	sconn, tconn, opts, out := newGroup(t, src, tgt, catalog.Filter{}, mode)
	opts.Jobs = 2
	return src, tgt, sconn, tconn, opts, out
}

// checkApp checks a streaming group of the app fixture: its metadata, rows
// streamed into partitions, ordered checksums, and indexes.
func checkApp(t *testing.T, src, tgt pgtest.DB, tconn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	// The group and the publication name the roots, never a partition.
	g, _ := group.Get(ctx, tconn, "g1")
	if got := strings.Join(catalog.QuotedNames(g.Tables), ","); got != `"public"."docs","public"."events","public"."items","public"."logs"` {
		t.Errorf("group tables = %s", got)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_publication WHERE pubviaroot"); n != 1 {
		t.Errorf("publications with publish_via_partition_root = %d, want 1", n)
	}
	// Streaming: rows routed to leaves on both sides, generated columns
	// computed by the target.
	src.Exec(t, `INSERT INTO items (id, tenant, embedding) SELECT i, i % 5, '[1,2,3,4]' FROM generate_series(5001, 5100) i;
		INSERT INTO events VALUES (9001, '2024-06-01', 'eu', 'late'), (9002, '2025-03-01', 'us', 'later');
		INSERT INTO docs (id, body) VALUES (9001, 'streamed');
		UPDATE docs SET body = 'changed' WHERE id = 7;
		INSERT INTO logs VALUES (99999, 'tail')`)
	tgt.WaitCount(t, "items", 3100)
	tgt.WaitCount(t, "logs", 3001)
	pgtest.WaitFor(t, "docs and events to catch up", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM docs WHERE body = 'changed' OR id = 9001") == 2 &&
			tgt.QueryInt(t, "SELECT count(*) FROM events WHERE id > 9000") == 2
	})
	for table, q := range checksums {
		if s, d := src.QueryStrings(t, q)[0], tgt.QueryStrings(t, q)[0]; s != d {
			t.Errorf("%s: ordered checksum differs: source %s, target %s", table, s, d)
		}
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM items_1"); n == 0 || n != src.QueryInt(t, "SELECT count(*) FROM items_1") {
		t.Errorf("target items_1 has %d rows, source %d", n, src.QueryInt(t, "SELECT count(*) FROM items_1"))
	}
	assertIndexes(t, src, tgt)
	assertVerify(t, src, tgt, g)
}

// assertVerify runs verify on the group: one result per replicated table
// (the roots), each matching, and the HNSW index on the parent checked.
func assertVerify(t *testing.T, src, tgt pgtest.DB, g group.Group) {
	t.Helper()
	rep, err := verify.Run(context.Background(), src.Conn(t), tgt.Conn(t),
		verify.Options{Tables: g.Tables, Subscription: g.ObjectName, Sample: 5})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var got []string
	for _, r := range rep.Tables {
		got = append(got, r.Table)
		if !r.OK() || r.SourceRows != r.TargetRows {
			t.Errorf("verify %s: %+v", r.Table, r)
		}
	}
	if len(got) != 4 {
		t.Errorf("verify reported %v, want the 4 roots and tables", got)
	}
	for _, a := range rep.ANN {
		if !a.OK() || a.Skipped != "" {
			t.Errorf("verify nearest neighbours on %s %s: %+v", a.Table, a.Index, a)
		}
	}
	if len(rep.ANN) != 1 {
		t.Errorf("verify checked %d vector index(es), want 1 (items_embedding_idx)", len(rep.ANN))
	}
}

// assertIndexes checks that every index of the source exists on the target
// (logs aside, which is partitioned differently) and that every index on the
// target is valid.
func assertIndexes(t *testing.T, src, tgt pgtest.DB) {
	t.Helper()
	const q = `SELECT c.relname || ' ' || i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relname NOT LIKE 'logs%' ORDER BY 1`
	s, d := strings.Join(src.QueryStrings(t, q), "\n"), strings.Join(tgt.QueryStrings(t, q), "\n")
	if s != d {
		t.Errorf("indexes differ:\nsource:\n%s\ntarget:\n%s", s, d)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE NOT indisvalid OR NOT indisready"); n != 0 {
		t.Errorf("%d invalid index(es) on the target", n)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		WHERE i.relname LIKE 'items%embedding%'`); n != 4 {
		t.Errorf("hnsw index on items: %d relations (parent + leaves), want 4", n)
	}
}
