package initsync

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// restoreTablesDDL has what a rebuild from pg_get_indexdef and
// pg_get_constraintdef alone loses: a table whose replica identity is a
// unique index (no primary key), CLUSTER ON, index and constraint comments,
// a statistics target on an expression column, and a partitioned table
// whose partitions' replica identity indexes were renamed.
const restoreTablesDDL = `
CREATE SCHEMA app;
CREATE TABLE app.tags (sku int NOT NULL, tag text NOT NULL, note text);
CREATE UNIQUE INDEX tags_sku_tag ON app.tags (sku, tag);
ALTER TABLE app.tags REPLICA IDENTITY USING INDEX tags_sku_tag;
COMMENT ON INDEX app.tags_sku_tag IS 'the identity';
CREATE INDEX tags_lower ON app.tags ((lower(tag)));
ALTER INDEX app.tags_lower ALTER COLUMN 1 SET STATISTICS 321;
ALTER TABLE app.tags CLUSTER ON tags_lower;
CREATE TABLE app.items (id int PRIMARY KEY, name text);
COMMENT ON CONSTRAINT items_pkey ON app.items IS 'the key';
CREATE TABLE app.notes (id int PRIMARY KEY, item int, body text NOT NULL);
CREATE TABLE app.events (id int NOT NULL, at int NOT NULL, x int) PARTITION BY RANGE (at);
CREATE TABLE app.events_1 PARTITION OF app.events FOR VALUES FROM (0) TO (100);
CREATE TABLE app.events_2 PARTITION OF app.events FOR VALUES FROM (100) TO (200);
CREATE UNIQUE INDEX events_key ON app.events (id, at);
ALTER INDEX app.events_1_id_at_idx RENAME TO events_1_ident;
ALTER INDEX app.events_2_id_at_idx RENAME TO events_2_ident;
ALTER TABLE app.events REPLICA IDENTITY USING INDEX events_key;
ALTER TABLE app.events_1 REPLICA IDENTITY USING INDEX events_1_ident;
ALTER TABLE app.events_2 REPLICA IDENTITY USING INDEX events_2_ident;`

// restoreRows are the source's rows; notes has some that its NOT VALID
// constraints (restoreConstraintsDDL, added after them) reject.
const restoreRows = `
INSERT INTO app.tags SELECT i, 't' || i, NULL FROM generate_series(1, 300) i;
INSERT INTO app.items SELECT generate_series(1, 50);
INSERT INTO app.notes SELECT i, 1 + i % 60, CASE WHEN i % 7 = 0 THEN '' ELSE 'n' || i END FROM generate_series(1, 400) i;
INSERT INTO app.events SELECT i, i % 200, i FROM generate_series(1, 1000) i;`

const restoreConstraintsDDL = `
ALTER TABLE app.notes ADD CONSTRAINT notes_body CHECK (body <> '') NOT VALID;
COMMENT ON CONSTRAINT notes_body ON app.notes IS 'new notes say something';
ALTER TABLE app.notes ADD CONSTRAINT notes_item_fkey FOREIGN KEY (item) REFERENCES app.items NOT VALID;
COMMENT ON CONSTRAINT notes_item_fkey ON app.notes IS 'new notes name an item';`

// schemaPropertiesQuery prints what schema app's indexes and constraints
// are beyond their definitions: two states that print the same are the
// same to replication, the planner and pg_dump.
const schemaPropertiesQuery = `
SELECT format('index %s on %s: replident=%s clustered=%s valid=%s tablespace=%s comment=%s stats=%s def=%s',
       x.relname, t.relname, i.indisreplident, i.indisclustered, i.indisvalid, x.reltablespace,
       obj_description(x.oid, 'pg_class'),
       (SELECT string_agg(a.attnum || ':' || a.attstattarget, ',' ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = x.oid AND a.attstattarget >= 0),
       pg_get_indexdef(x.oid))
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relnamespace = 'app'::regnamespace
UNION ALL
SELECT format('constraint %s on %s: validated=%s comment=%s def=%s', k.conname, t.relname, k.convalidated,
       obj_description(k.oid, 'pg_constraint'), pg_get_constraintdef(k.oid))
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid WHERE t.relnamespace = 'app'::regnamespace
UNION ALL
SELECT format('table %s: replident=%s', relname, relreplident) FROM pg_class
WHERE relnamespace = 'app'::regnamespace AND relkind IN ('r', 'p')
ORDER BY 1`

// TestStartSyncRestores runs start_sync over restoreTablesDDL in both copy
// modes: the copy takes the rows that violate the NOT VALID constraints,
// the target's indexes and constraints end as they were (replica identity,
// comments, statistics, NOT VALID...), and UPDATE and DELETE replicate,
// which needs the replica identity index. The fast mode's first run fails
// after dropping everything, and its rollback must restore as much.
func TestStartSyncRestores(t *testing.T) {
	for _, mode := range []string{Fast, Native} {
		t.Run(mode, func(t *testing.T) { testStartSyncRestores(t, mode) })
	}
}

func testStartSyncRestores(t *testing.T, mode string) {
	src, tgt := pgtest.Get(t).Pair(t)
	src.Exec(t, restoreTablesDDL+restoreRows+restoreConstraintsDDL)
	tgt.Exec(t, restoreTablesDDL+restoreConstraintsDDL)
	before := tgt.QueryStrings(t, schemaPropertiesQuery)
	sconn, tconn, opts, out := newGroup(t, src, tgt, catalog.Filter{Schema: "app"}, mode)
	ctx := context.Background()
	if mode == Fast {
		boom := errors.New("injected failure")
		opts.Hook = func(p string) error {
			if p == "copying" {
				return boom
			}
			return nil
		}
		if err := Start(ctx, sconn, tconn, opts); !errors.Is(err, boom) {
			t.Fatalf("Start = %v, want the injected failure\n%s", err, out)
		}
		assertSameLines(t, "after the failed run's rollback", before, tgt.QueryStrings(t, schemaPropertiesQuery))
		opts.Hook = nil
		out.Reset()
	}
	if err := Start(ctx, sconn, tconn, opts); err != nil {
		t.Fatalf("start_sync: %v\n%s", err, out)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM app.notes WHERE body = ''"); n != 57 {
		t.Errorf("%d notes violating notes_body on the target, want 57", n)
	}
	assertSameLines(t, "after start_sync", before, tgt.QueryStrings(t, schemaPropertiesQuery))
	src.Exec(t, `UPDATE app.tags SET note = 'changed' WHERE sku <= 10; DELETE FROM app.tags WHERE sku > 290;
		UPDATE app.events SET x = -x WHERE id <= 20; DELETE FROM app.events WHERE id > 990`)
	const state = `SELECT (SELECT count(*) FILTER (WHERE note = 'changed') || '/' || count(*) FROM app.tags)
		|| ' ' || (SELECT count(*) FILTER (WHERE x < 0) || '/' || count(*) FROM app.events)`
	pgtest.WaitFor(t, "the UPDATE and DELETE on the target", func() bool {
		return tgt.QueryStrings(t, state)[0] == "10/290 20/990"
	})
}

// assertSameLines fails the test when got and want differ, listing the
// lines only one of them has.
func assertSameLines(t *testing.T, when string, want, got []string) {
	t.Helper()
	in := func(lines []string) map[string]bool {
		m := map[string]bool{}
		for _, l := range lines {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var diff []string
	for l := range w {
		if !g[l] {
			diff = append(diff, "- "+l)
		}
	}
	for l := range g {
		if !w[l] {
			diff = append(diff, "+ "+l)
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		t.Errorf("target's indexes and constraints %s differ from before (- before, + now):\n%s", when, strings.Join(diff, "\n"))
	}
}
