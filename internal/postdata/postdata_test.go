package postdata

import (
	"context"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) {
	pollInterval = 50 * time.Millisecond // see even a short HNSW build
	os.Exit(pgtest.Main(m))
}

func name(n string) pg.Name { return pg.Name{Schema: "public", Name: n} }

// TestOrder pins the one build order every builder uses: keys (and NOT
// VALID checks), then vector indexes, then other indexes, then foreign
// keys; largest first within a kind.
func TestOrder(t *testing.T) {
	objs := []Object{
		{Name: "fk", Kind: group.ForeignKey},
		{Name: "small_btree", Kind: group.PlainIndex, Bytes: 10},
		{Name: "big_btree", Kind: group.PlainIndex, Bytes: 1000},
		{Name: "small_hnsw", Kind: group.VectorIndex, Bytes: 5},
		{Name: "big_hnsw", Kind: group.VectorIndex, Bytes: 500},
		{Name: "uq", Kind: group.UniqueKey, Bytes: 1},
		{Name: "pk", Kind: group.PrimaryKey, Bytes: 2},
		{Name: "ck", Kind: group.CheckConstraint},
	}
	Sort(objs)
	var got []string
	for _, o := range objs {
		got = append(got, o.Name)
	}
	want := "pk,uq,ck,big_hnsw,small_hnsw,big_btree,small_btree,fk"
	if strings.Join(got, ",") != want {
		t.Errorf("order = %s, want %s", strings.Join(got, ","), want)
	}
	if err := check([]Object{{Name: "x", Kind: "trigger"}}); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestFromCatalog(t *testing.T) {
	tests := []struct {
		ix   catalog.Index
		want Object
	}{
		{catalog.Index{Table: name("t"), Name: "t_pkey", AM: "btree", Constraint: "t_pkey", ConType: "p", Def: "ALTER TABLE ..."},
			Object{Table: name("t"), Name: "t_pkey", Kind: group.PrimaryKey, Def: "ALTER TABLE ..."}},
		{catalog.Index{Table: name("t"), Name: "t_k_idx", AM: "btree", Constraint: "t_k_key", ConType: "u"},
			Object{Table: name("t"), Name: "t_k_key", Kind: group.UniqueKey}},
		{catalog.Index{Table: name("t"), Name: "t_v_idx", AM: "hnsw", Bytes: 7},
			Object{Table: name("t"), Name: "t_v_idx", Kind: group.VectorIndex, Bytes: 7}},
		{catalog.Index{Table: name("t"), Name: "t_x_excl", AM: "gist", Constraint: "t_x_excl", ConType: "x"},
			Object{Table: name("t"), Name: "t_x_excl", Kind: group.PlainIndex}},
		// The constraint type wins over the access method: a key is a key
		// (foreign keys wait for it) whatever index backs it.
		{catalog.Index{Table: name("t"), Name: "t_v_key", AM: "hnsw", Constraint: "t_v_key", ConType: "u"},
			Object{Table: name("t"), Name: "t_v_key", Kind: group.UniqueKey}},
		{catalog.Index{Table: name("t"), Name: "t_pkey", AM: "ivfflat", Constraint: "t_pkey", ConType: "p"},
			Object{Table: name("t"), Name: "t_pkey", Kind: group.PrimaryKey}},
		// What the definition cannot say comes along.
		{catalog.Index{Table: name("t"), Name: "t_k", AM: "btree", Restore: []string{"COMMENT ON INDEX public.t_k IS 'k'"}},
			Object{Table: name("t"), Name: "t_k", Kind: group.PlainIndex, Restore: []string{"COMMENT ON INDEX public.t_k IS 'k'"}}},
	}
	for _, tt := range tests {
		if got := FromIndex(tt.ix); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FromIndex(%+v) = %+v, want %+v", tt.ix, got, tt.want)
		}
	}
	fk := FromForeignKey(catalog.ForeignKey{Table: name("c"), Name: "c_p_fkey", Def: "ALTER TABLE x", References: name("p"), Restore: []string{"COMMENT"}})
	if fk.Kind != group.ForeignKey || fk.Name != "c_p_fkey" || !isConstraint(fk) || fk.References != name("p") || len(fk.Restore) != 1 {
		t.Errorf("FromForeignKey = %+v", fk)
	}
	ck := FromCheck(catalog.Check{Table: name("c"), Name: "c_body", Def: "ALTER TABLE x ADD CONSTRAINT c_body CHECK ((b <> '')) NOT VALID"})
	if ck.Kind != group.CheckConstraint || ck.Name != "c_body" || !addedNotValid(ck) {
		t.Errorf("FromCheck = %+v", ck)
	}
}

// The HNSW build must last long enough (a few hundred milliseconds) for the
// poller to see it in pg_stat_progress_create_index.
const schema = `
CREATE TABLE parent (id int NOT NULL, label text);
CREATE TABLE "Child ""Ü""" (id int NOT NULL, parent_id int, v vector(16));
INSERT INTO parent SELECT i, 'p' || i FROM generate_series(1, 100) i;
INSERT INTO "Child ""Ü""" SELECT i, i % 100 + 1, (SELECT array_agg(random())::vector FROM generate_series(1, 16) WHERE i > 0)
FROM generate_series(1, 5000) i;`

var child = name(`Child "Ü"`)

func objects() []Object {
	return []Object{
		{Table: child, Name: "child_fk", Kind: group.ForeignKey,
			Def: `ALTER TABLE "public"."Child ""Ü""" ADD CONSTRAINT child_fk FOREIGN KEY (parent_id) REFERENCES parent (id)`},
		{Table: child, Name: "child_v_idx", Kind: group.VectorIndex, Bytes: 1 << 20,
			Def: `CREATE INDEX child_v_idx ON "public"."Child ""Ü""" USING hnsw (v vector_l2_ops)`},
		{Table: child, Name: "child_parent_idx", Kind: group.PlainIndex, Def: `CREATE INDEX child_parent_idx ON "public"."Child ""Ü""" (parent_id)`},
		{Table: child, Name: "child_pkey", Kind: group.PrimaryKey, Def: `ALTER TABLE "public"."Child ""Ü""" ADD CONSTRAINT child_pkey PRIMARY KEY (id)`},
		{Table: name("parent"), Name: "parent_pkey", Kind: group.PrimaryKey, Def: `ALTER TABLE public.parent ADD CONSTRAINT parent_pkey PRIMARY KEY (id)`},
	}
}

type recorder struct {
	mu     sync.Mutex
	events []BuildEvent
	built  []string
}

func (r *recorder) progress(e BuildEvent) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) onBuilt(o Object) error {
	r.mu.Lock()
	r.built = append(r.built, o.Name)
	r.mu.Unlock()
	return nil
}

func TestBuild(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.Exec(t, schema)
	var rec recorder
	opts := Options{Target: tgt.Config(t), Parallel: 2, MemoryBudget: 256 << 20, Workers: 1,
		Progress: rec.progress, OnBuilt: rec.onBuilt}
	if err := Build(context.Background(), objects(), opts); err != nil {
		t.Fatal(err)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname IN ('child_v_idx', 'child_parent_idx', 'child_pkey', 'parent_pkey') AND i.indisvalid`); n != 4 {
		t.Errorf("%d valid indexes, want 4", n)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_constraint WHERE conname IN ('child_fk', 'child_pkey', 'parent_pkey') AND convalidated`); n != 3 {
		t.Errorf("%d validated constraints, want 3", n)
	}
	if len(rec.built) != 5 || rec.built[4] != "child_fk" {
		t.Errorf("built %v, want 5 with the foreign key last", rec.built)
	}
	polled := 0
	for _, e := range rec.events {
		if e.Object.Name == "child_v_idx" && !e.Done && e.Phase != "starting" {
			polled++
			t.Logf("hnsw progress: %s %.0f%% %s", e.Phase, e.Percent, e.Elapsed)
		}
	}
	if polled == 0 {
		t.Error("no pg_stat_progress_create_index event for the HNSW build")
	}

	// A second run finds everything built and only reports it.
	rec = recorder{}
	opts.Progress, opts.OnBuilt = rec.progress, rec.onBuilt
	if err := Build(context.Background(), objects(), opts); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	for _, e := range rec.events {
		if e.Phase != "already built" {
			t.Errorf("rerun event %+v, want already built", e)
		}
	}
	if len(rec.built) != 5 {
		t.Errorf("rerun built %v", rec.built)
	}
}

func TestBuildError(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.Exec(t, "CREATE TABLE t (id int, v vector(3)); INSERT INTO t VALUES (1, '[1,2,3]'), (1, '[3,2,1]')")
	objs := []Object{
		{Table: name("t"), Name: "t_v_idx", Kind: group.VectorIndex, Def: "CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops)"},
		{Table: name("t"), Name: "t_bad_idx", Kind: group.PlainIndex, Def: "CREATE INDEX t_bad_idx ON t (no_such_column)"},
	}
	err := Build(context.Background(), objs, Options{Target: tgt.Config(t), Parallel: 2})
	if err == nil || !strings.Contains(err.Error(), `index "t_bad_idx" on public.t`) {
		t.Fatalf("error = %v, want one naming t_bad_idx", err)
	}
	pk := []Object{{Table: name("t"), Name: "t_pkey", Kind: group.PrimaryKey, Def: "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id)"}}
	err = Build(context.Background(), pk, Options{Target: tgt.Config(t)})
	if err == nil || !strings.Contains(err.Error(), `primary key "t_pkey" on public.t`) || pg.Code(err) != "23505" {
		t.Fatalf("error = %v, want a unique violation naming t_pkey", err)
	}
}

func TestDefaultBudget(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	conn := tgt.Conn(t)
	ctx := context.Background()
	for _, tt := range []struct {
		setting string
		want    int64
	}{{"64MB", 512 << 20}, {"1GB", 1 << 30}, {"3GB", 3 << 30}} {
		if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '"+tt.setting+"'"); err != nil {
			t.Fatal(err)
		}
		got, err := DefaultBudget(ctx, conn)
		if err != nil || got != tt.want {
			t.Errorf("maintenance_work_mem %s: budget %d, %v; want %d", tt.setting, got, err, tt.want)
		}
	}
}

func TestAnalyze(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.Exec(t, `CREATE TABLE "An Alyze" (id int); INSERT INTO "An Alyze" SELECT generate_series(1, 1000);
		CREATE TABLE other (id int); INSERT INTO other SELECT generate_series(1, 500)`)
	if err := Analyze(context.Background(), tgt.Config(t), []pg.Name{name("An Alyze"), name("other")}, 2); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int64{"An Alyze": 1000, "other": 500} {
		if n := tgt.QueryInt(t, `SELECT reltuples::bigint FROM pg_class WHERE relname = '`+table+`'`); n != want {
			t.Errorf("reltuples of %s = %d after ANALYZE, want %d", table, n, want)
		}
	}
	if err := Analyze(context.Background(), tgt.Config(t), []pg.Name{name("missing")}, 1); err == nil || !strings.Contains(err.Error(), "public.missing") {
		t.Errorf("error = %v, want one naming public.missing", err)
	}
}

// TestBuildMutualForeignKeys adds two foreign keys between the same two
// tables at once, which can deadlock; Build must still succeed.
func TestBuildMutualForeignKeys(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.Exec(t, `CREATE TABLE a (id int PRIMARY KEY, b_id int); CREATE TABLE b (id int PRIMARY KEY, a_id int);
		INSERT INTO a SELECT i, i FROM generate_series(1, 50000) i; INSERT INTO b SELECT i, i FROM generate_series(1, 50000) i`)
	objs := []Object{
		{Table: name("a"), Name: "a_b_fk", Kind: group.ForeignKey, Def: "ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b"},
		{Table: name("b"), Name: "b_a_fk", Kind: group.ForeignKey, Def: "ALTER TABLE b ADD CONSTRAINT b_a_fk FOREIGN KEY (a_id) REFERENCES a"},
	}
	if err := Build(context.Background(), objs, Options{Target: tgt.Config(t), Parallel: 2}); err != nil {
		t.Fatal(err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"); n != 2 {
		t.Errorf("%d foreign keys, want 2", n)
	}
}
