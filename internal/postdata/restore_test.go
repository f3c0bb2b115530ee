package postdata

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// restoreDDL has, in an oddly named schema, what pg_get_indexdef and
// pg_get_constraintdef leave out: replica identity on a unique index,
// CLUSTER ON, index and constraint comments (one with a quote and a
// backslash), a statistics target, tablespaces (%[1]s) of plain, partial
// and constraint indexes, a key's storage options, NOT VALID constraints
// that rows violate, and a partitioned table whose partitions' indexes
// were renamed and marked.
const restoreDDL = `
CREATE SCHEMA "R s";
CREATE TABLE "R s".tags (sku int NOT NULL, "Tag" text NOT NULL, note text, v vector(3));
CREATE UNIQUE INDEX "tags sku tag" ON "R s".tags (sku, "Tag");
ALTER TABLE "R s".tags REPLICA IDENTITY USING INDEX "tags sku tag";
COMMENT ON INDEX "R s"."tags sku tag" IS 'it''s the \ identity';
CREATE INDEX tags_lower ON "R s".tags ((lower("Tag")), sku) WITH (fillfactor = 70) TABLESPACE %[1]s;
ALTER INDEX "R s".tags_lower ALTER COLUMN 1 SET STATISTICS 321;
ALTER TABLE "R s".tags CLUSTER ON tags_lower;
CREATE INDEX tags_noted ON "R s".tags (sku) TABLESPACE %[1]s WHERE note IS NOT NULL;
CREATE INDEX tags_v ON "R s".tags USING hnsw (v vector_l2_ops) TABLESPACE %[1]s;
COMMENT ON INDEX "R s".tags_v IS 'vectors';
CREATE TABLE "R s".items (id int, code text, a int,
    CONSTRAINT items_pkey PRIMARY KEY (id) WITH (fillfactor = 80) USING INDEX TABLESPACE %[1]s,
    CONSTRAINT items_code UNIQUE (code) USING INDEX TABLESPACE %[1]s DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT items_ex EXCLUDE USING btree (a WITH =) WITH (fillfactor = 60) USING INDEX TABLESPACE %[1]s WHERE (a > 0));
COMMENT ON CONSTRAINT items_pkey ON "R s".items IS 'the key';
COMMENT ON CONSTRAINT items_ex ON "R s".items IS 'exclusion';
CREATE TABLE "R s".notes (id int PRIMARY KEY, item int, body text);
INSERT INTO "R s".items VALUES (1, 'a', 1);
INSERT INTO "R s".notes VALUES (1, 1, 'fine'), (2, 999, '');
ALTER TABLE "R s".notes ADD CONSTRAINT notes_item FOREIGN KEY (item) REFERENCES "R s".items NOT VALID;
COMMENT ON CONSTRAINT notes_item ON "R s".notes IS 'fk';
ALTER TABLE "R s".notes ADD CONSTRAINT notes_body CHECK (body <> '') NOT VALID;
COMMENT ON CONSTRAINT notes_body ON "R s".notes IS 'check';
CREATE TABLE "R s".events (id int NOT NULL, at int NOT NULL, x int) PARTITION BY RANGE (at);
CREATE TABLE "R s".events_1 PARTITION OF "R s".events FOR VALUES FROM (0) TO (100);
CREATE TABLE "R s".events_2 PARTITION OF "R s".events FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (at);
CREATE TABLE "R s".events_2a PARTITION OF "R s".events_2 FOR VALUES FROM (100) TO (200);
INSERT INTO "R s".events SELECT i, i, i FROM generate_series(1, 199) i;
CREATE UNIQUE INDEX events_key ON "R s".events (id, at);
ALTER INDEX "R s".events_1_id_at_idx RENAME TO "events 1 ident";
ALTER INDEX "R s".events_2a_id_at_idx RENAME TO events_2a_ident;
ALTER TABLE "R s".events REPLICA IDENTITY USING INDEX events_key;
ALTER TABLE "R s".events_1 REPLICA IDENTITY USING INDEX "events 1 ident";
ALTER TABLE "R s".events_2a REPLICA IDENTITY USING INDEX events_2a_ident;
ALTER TABLE "R s".events_1 CLUSTER ON "events 1 ident";
COMMENT ON INDEX "R s"."events 1 ident" IS 'leaf';
CREATE INDEX events_x ON "R s".events ((x + 1));
ALTER INDEX "R s".events_x ALTER COLUMN 1 SET STATISTICS 77;
ALTER INDEX "R s".events_1_expr_idx SET TABLESPACE %[1]s;`

// propertiesQuery prints what a schema's ($1) indexes and constraints are,
// beyond their definitions: two states that print the same are the same to
// replication, the planner and pg_dump.
const propertiesQuery = `
SELECT format('index %s on %s: replident=%s clustered=%s valid=%s tablespace=%s options=%s comment=%s stats=%s parent=%s def=%s',
       x.relname, t.relname, i.indisreplident, i.indisclustered, i.indisvalid, ts.spcname, x.reloptions,
       obj_description(x.oid, 'pg_class'),
       (SELECT string_agg(a.attnum || ':' || a.attstattarget, ',' ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = x.oid AND a.attstattarget >= 0),
       (SELECT h.inhparent::regclass FROM pg_inherits h WHERE h.inhrelid = x.oid),
       pg_get_indexdef(x.oid))
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_tablespace ts ON ts.oid = x.reltablespace
WHERE t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
UNION ALL
SELECT format('constraint %s on %s: validated=%s comment=%s def=%s', k.conname, t.relname, k.convalidated,
       obj_description(k.oid, 'pg_constraint'), pg_get_constraintdef(k.oid))
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid WHERE t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
UNION ALL
SELECT format('table %s: replident=%s', relname, relreplident) FROM pg_class
WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND relkind IN ('r', 'p')
ORDER BY 1`

// TestBuildRestores drops every index and constraint of restoreDDL that
// start_sync defers and builds them again from what catalog read, twice
// (the second run finds them built): the schema must be as it was, to the
// last comment.
func TestBuildRestores(t *testing.T) {
	env := pgtest.Get(t)
	ts := tablespace(t, env.Target)
	_, tgt := env.Pair(t)
	tgt.Exec(t, fmt.Sprintf(restoreDDL, ts))
	before := strings.Join(tgt.QueryStrings(t, propertiesQuery, "R s"), "\n")
	objs, drops := deferAll(t, tgt.Conn(t), "R s")
	for _, sql := range drops {
		tgt.Exec(t, sql)
	}
	if after := strings.Join(tgt.QueryStrings(t, propertiesQuery, "R s"), "\n"); after == before {
		t.Fatal("dropping the objects changed nothing")
	}
	for run := 1; run <= 2; run++ {
		if err := Build(context.Background(), objs, Options{Target: tgt.Config(t), Parallel: 2}); err != nil {
			t.Fatalf("build %d: %v", run, err)
		}
		if after := strings.Join(tgt.QueryStrings(t, propertiesQuery, "R s"), "\n"); after != before {
			t.Errorf("after build %d the schema differs:\n%s", run, lineDiff(before, after))
		}
	}
}

// deferAll reads schema's indexes, foreign keys and NOT VALID checks as
// start_sync's fast mode does, and returns them to build and the
// statements that drop them.
func deferAll(t *testing.T, conn *pgx.Conn, schema string) ([]Object, []string) {
	t.Helper()
	ctx := context.Background()
	tables, err := catalog.Tables(ctx, conn, catalog.Filter{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	var oids []uint32
	for _, t := range tables {
		oids = append(oids, t.OID)
	}
	fks, err := catalog.ForeignKeys(ctx, conn, oids)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := catalog.NotValidChecks(ctx, conn, oids)
	if err != nil {
		t.Fatal(err)
	}
	idxs, err := catalog.Indexes(ctx, conn, oids)
	if err != nil {
		t.Fatal(err)
	}
	var objs []Object
	var drops []string
	dropConstraint := func(table pg.Name, name string) string {
		return "ALTER TABLE " + table.Quoted() + " DROP CONSTRAINT " + pgx.Identifier{name}.Sanitize()
	}
	for _, fk := range fks {
		objs = append(objs, FromForeignKey(fk))
		drops = append(drops, dropConstraint(fk.Table, fk.Name))
	}
	for _, c := range checks {
		objs = append(objs, FromCheck(c))
		drops = append(drops, dropConstraint(c.Table, c.Name))
	}
	for _, ix := range idxs {
		objs = append(objs, FromIndex(ix))
		drops = append(drops, ix.DropSQL())
	}
	return objs, drops
}

// lineDiff lists the lines only one of a and b has.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out []string
	for l := range ina {
		if !inb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range inb {
		if !ina[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// tablespace makes a tablespace on cluster c for the test, in a directory
// of the cluster's own owned by the server's OS user. It is dropped after
// the test's databases, so call it before env.Pair.
func tablespace(t *testing.T, c *localpg.Cluster) string {
	t.Helper()
	name := "ts_" + nonWord.ReplaceAllString(strings.ToLower(t.Name()), "_")
	dir := filepath.Join(c.Dir, name)
	fi, err := os.Stat(c.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(dir, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	id := pgx.Identifier{name}.Sanitize()
	if err := c.Exec(ctx, "postgres", "CREATE TABLESPACE "+id+" LOCATION '"+strings.ReplaceAll(dir, "'", "''")+"'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Exec(context.Background(), "postgres", "DROP TABLESPACE IF EXISTS "+id) })
	return id
}
