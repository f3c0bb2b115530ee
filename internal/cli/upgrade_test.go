package cli

import (
	"encoding/json"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// oldMetadataDDL is the target's metadata as versions before the
// (schema_name, table_name) layout wrote it, with a table as quoted SQL.
const oldMetadataDDL = `
CREATE SCHEMA pgvecrep;
CREATE TABLE pgvecrep.groups (
    name text PRIMARY KEY, phase text NOT NULL, tables text[] NOT NULL DEFAULT '{}',
    object_name text NOT NULL, copy_mode text NOT NULL DEFAULT '', snapshot_lsn text NOT NULL DEFAULT '',
    last_error text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(), synced_at timestamptz);
CREATE TABLE pgvecrep.tables (
    group_name text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    table_name text NOT NULL, state text NOT NULL DEFAULT 'pending',
    rows_copied bigint NOT NULL DEFAULT 0, bytes_copied bigint NOT NULL DEFAULT 0,
    started_at timestamptz, finished_at timestamptz,
    PRIMARY KEY (group_name, table_name));
CREATE TABLE pgvecrep.deferred_objects (
    group_name text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    table_name text NOT NULL, name text NOT NULL, kind text NOT NULL, definition text NOT NULL,
    bytes bigint NOT NULL DEFAULT 0, built_at timestamptz,
    PRIMARY KEY (group_name, table_name, name));`

// TestOldMetadataUpgrade: a streaming group whose metadata an earlier
// version wrote (tables as quoted SQL, a deferred index not built yet) is
// read by stats after the upgrade, and stop_sync stops it and builds the
// index again from the migrated row.
func TestOldMetadataUpgrade(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ddl := `CREATE TABLE items (id int PRIMARY KEY, emb vector(3));
		CREATE SCHEMA "a.b";
		CREATE TABLE "a.b"."we""ird.T ä" (id int PRIMARY KEY);
		INSERT INTO items SELECT i, '[1,2,3]' FROM generate_series(1, 20) i;
		INSERT INTO "a.b"."we""ird.T ä" SELECT generate_series(1, 5)`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	obj := group.ObjectName("old")
	env.Stream(t, src, tgt, pgtest.Stream{Publication: obj, Subscription: obj, Tables: []string{`"public"."items"`, `"a.b"."we""ird.T ä"`}})
	tgt.Exec(t, oldMetadataDDL)
	tgt.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, tables, object_name, copy_mode, synced_at)
			VALUES ('old', 'streaming', ARRAY['"a.b"."we""ird.T ä"', '"public"."items"'], $1, 'native', now())`, obj)
	tgt.Exec(t, `INSERT INTO pgvecrep.tables (group_name, table_name, state, started_at) VALUES
			('old', '"a.b"."we""ird.T ä"', 'copied', now()), ('old', '"public"."items"', 'copied', now());
		INSERT INTO pgvecrep.deferred_objects (group_name, table_name, name, kind, definition) VALUES
			('old', '"public"."items"', 'items_emb', 'vector', 'CREATE INDEX items_emb ON public.items USING hnsw (emb vector_l2_ops)')`)

	var st struct {
		Pgvecrep struct {
			Phase  string
			Tables []struct {
				Table, State string
				Rows         int64
			}
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, src, tgt, "stats", "-g", "old").stdout), &st); err != nil {
		t.Fatal(err)
	}
	if ts := st.Pgvecrep.Tables; st.Pgvecrep.Phase != "streaming" || len(ts) != 2 || ts[0].Table != `"a.b"."we""ird.T ä"` ||
		ts[0].Rows != 5 || ts[1].Table != "public.items" || ts[1].Rows != 20 || ts[1].State != "streaming" {
		t.Errorf("stats on upgraded metadata: %+v", st.Pgvecrep)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pgvecrep.tables WHERE schema_name = 'a.b' AND table_name = 'we"ird.T ä'`); n != 1 {
		t.Errorf("pgvecrep.tables not migrated to (schema_name, table_name)")
	}

	mustRun(t, src, tgt, "stop_sync", "-g", "old")
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'items_emb'`); n != 1 {
		t.Errorf("stop_sync did not build the deferred index recorded by the earlier version")
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pgvecrep.deferred_objects WHERE built_at IS NULL`); n != 0 {
		t.Errorf("%d deferred object(s) still pending after stop_sync", n)
	}
	mustRun(t, src, tgt, "cleanup", "--everything")
	pgtest.AssertNoReplication(t, src, tgt)
}
