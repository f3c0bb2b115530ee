package verify

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

const itemsSchema = `CREATE TABLE items (id bigint PRIMARY KEY, emb vector(8), note text, at timestamptz, bits bit(8))`

// itemsFill gives the source 3,000 rows of pseudo-random 8-d vectors.
const itemsFill = `SELECT setseed(0.5);
INSERT INTO items
SELECT g, (SELECT array_agg(random())::real[] FROM generate_series(1, 8) WHERE g > 0)::vector,
       'note ' || g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', (g % 256)::bit(8)
FROM generate_series(1, 3000) g;`

const itemsIndexes = `
CREATE INDEX items_emb_l2 ON items USING hnsw (emb vector_l2_ops);
CREATE INDEX items_emb_cos ON items USING ivfflat (emb vector_cosine_ops) WITH (lists = 10);
CREATE INDEX items_bits ON items USING hnsw (bits bit_hamming_ops);`

var items = setup{schema: itemsSchema, fill: itemsFill, indexes: itemsIndexes}

func itemsReplica(t *testing.T) replica { return replicate(t, items) }

func TestVerifyHealthyReplica(t *testing.T) {
	withCopy := items
	withCopy.copyData = true
	r := replicate(t, withCopy)
	rep := r.verify(t, Options{Tables: names(t, "items")}, nil)
	if !rep.OK() {
		t.Fatalf("healthy replica reported divergent:\n%s", text(t, rep))
	}
	tr := tableResult(t, rep, "public.items")
	if tr.SourceRows != 3000 || tr.TargetRows != 3000 || tr.Chunks != 7 || tr.MismatchedChunks != 0 {
		t.Errorf("items = %+v, want 3000/3000 rows in 7 chunks, none mismatched", tr)
	}
	for _, idx := range []string{"items_emb_l2", "items_emb_cos"} {
		a := annResult(t, rep, idx)
		if !a.ExactOK || a.Queries != 8 || a.Skipped != "" {
			t.Errorf("%s = %+v, want 8 queries with identical exact neighbours", idx, a)
		}
		for side, rc := range map[string]*float64{"source": a.RecallSource, "target": a.RecallTarget} {
			if rc == nil || *rc < 0 || *rc > 1 {
				t.Errorf("%s recall on the %s = %v, want a value in [0, 1]", idx, side, rc)
			}
		}
	}
	if a := annResult(t, rep, "items_bits"); a.Skipped == "" || !a.OK() {
		t.Errorf("bit index = %+v, want skipped with a note", a)
	}
	if out := text(t, rep); !strings.Contains(out, "verify: ok") || !strings.Contains(out, "items_emb_l2") {
		t.Errorf("table output lacks the verdict or the index:\n%s", out)
	}
}

func TestVerifyFindsDivergence(t *testing.T) {
	// sampled is the first row verify draws a query vector from.
	const sampled = `SELECT id FROM items ORDER BY md5(id::text), id LIMIT 1`
	tests := []struct {
		name    string
		mutate  string // run on the target
		keySQL  string // the key verify must name, read from the source
		kind    string
		annFail bool
	}{
		{name: "row deleted on the target", mutate: `DELETE FROM items WHERE id = 42`,
			keySQL: `SELECT 42`, kind: kindMissing},
		{name: "row added on the target", mutate: `INSERT INTO items (id, note) VALUES (100000, 'stray')`,
			keySQL: `SELECT 100000`, kind: kindExtra},
		{name: "text changed on the target", mutate: `UPDATE items SET note = 'edited' WHERE id = 1777`,
			keySQL: `SELECT 1777`, kind: kindDifferent},
		{name: "vector altered on the target", mutate: `UPDATE items SET emb = '[9,9,9,9,9,9,9,9]' WHERE id = (` + sampled + `)`,
			keySQL: sampled, kind: kindDifferent, annFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := itemsReplica(t)
			key := fmt.Sprint(r.src.QueryInt(t, tt.keySQL))
			r.tgt.Exec(t, tt.mutate)
			rep := r.verify(t, Options{Tables: names(t, "items")}, nil)
			if rep.OK() {
				t.Fatalf("divergence not found:\n%s", text(t, rep))
			}
			tr := tableResult(t, rep, "public.items")
			got := map[string][]string{kindMissing: tr.Missing, kindExtra: tr.Extra, kindDifferent: tr.Different}
			for kind, keys := range got {
				want := []string(nil)
				if kind == tt.kind {
					want = []string{key}
				}
				if !slices.Equal(keys, want) {
					t.Errorf("%s keys = %v, want %v", kind, keys, want)
				}
			}
			if tr.DivergentRows != 1 || tr.MismatchedChunks != 1 {
				t.Errorf("divergent rows %d in %d chunks, want 1 in 1", tr.DivergentRows, tr.MismatchedChunks)
			}
			if a := annResult(t, rep, "items_emb_l2"); a.ExactOK == tt.annFail {
				t.Errorf("exact neighbours identical = %v, want %v (%+v)", a.ExactOK, !tt.annFail, a)
			}
			if out := text(t, rep); !strings.Contains(out, "public.items: ") || !strings.Contains(out, key) {
				t.Errorf("table output does not name the table and key %s:\n%s", key, out)
			}
		})
	}
}

// TestVerifyIgnoresChangesInFlight makes the source change while verify
// reads it: replication is running, so the target catches up, and verify
// must not mistake the lag for divergence.
func TestVerifyIgnoresChangesInFlight(t *testing.T) {
	const change = `UPDATE items SET note = note || ' changed', emb = emb + '[1,1,1,1,1,1,1,1]' WHERE id IN (1, 1500, 2999);
DELETE FROM items WHERE id = 10; INSERT INTO items (id, note) VALUES (5000, 'new')`
	tests := []struct {
		name string
		// during starts the disturbance and returns the hook verify calls
		// after each source read, and a function that ends the disturbance.
		during func(t *testing.T, r replica) (func(pass string), func())
		// rechecked: "some" chunks must be read again (the change landed
		// between the reads), "none" (the drain alone must absorb the lag),
		// or "" when it depends on timing.
		rechecked string
	}{
		{name: "changed between the passes", rechecked: "some",
			during: func(t *testing.T, r replica) (func(string), func()) {
				var once sync.Once
				return func(pass string) { once.Do(func() { r.src.Exec(t, change) }) }, func() {}
			}},
		{name: "subscriber lagging behind", rechecked: "none", during: func(t *testing.T, r replica) (func(string), func()) {
			release := r.holdApply(t)
			r.src.Exec(t, change)
			time.AfterFunc(1500*time.Millisecond, release)
			return nil, release
		}},
		{name: "concurrent writer", during: func(t *testing.T, r replica) (func(string), func()) {
			return nil, r.writer(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := itemsReplica(t)
			hook, stop := tt.during(t, r)
			rep := r.verify(t, Options{Tables: names(t, "items")}, hook)
			stop()
			if !rep.OK() {
				t.Fatalf("changes in flight reported as divergence:\n%s", text(t, rep))
			}
			tr := tableResult(t, rep, "public.items")
			t.Logf("rechecked %d of %d chunks", tr.Rechecked, tr.Chunks)
			if tt.rechecked == "some" && tr.Rechecked == 0 {
				t.Errorf("no chunk was re-checked; the change did not land between the passes: %+v", tr)
			}
			if tt.rechecked == "none" && tr.Rechecked != 0 {
				t.Errorf("%d chunks re-checked: the first pass read the target before the lag drained", tr.Rechecked)
			}
			if len(rep.Notes) > 0 {
				t.Errorf("unexpected notes: %v", rep.Notes)
			}
		})
	}
}

// TestVerifyLagThatDoesNotDrain: a subscriber stuck longer than the drain
// timeout leaves real differences, and verify says why it may be wrong.
func TestVerifyLagThatDoesNotDrain(t *testing.T) {
	r := itemsReplica(t)
	release := r.holdApply(t)
	defer release()
	r.src.Exec(t, `UPDATE items SET note = 'late' WHERE id = 7`)
	rep := r.verify(t, Options{Tables: names(t, "items"), Sample: -1, DrainTimeout: 2 * time.Second}, nil)
	if rep.OK() || !slices.Equal(tableResult(t, rep, "public.items").Different, []string{"7"}) {
		t.Errorf("want row 7 different:\n%s", text(t, rep))
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "did not drain") {
		t.Errorf("notes = %v, want one about the lag", rep.Notes)
	}
}

// holdApply blocks the target's apply worker on the items table (EXCLUSIVE
// lets reads through but no writes) until the returned function is called.
func (r replica) holdApply(t *testing.T) func() {
	t.Helper()
	conn := r.tgt.Conn(t)
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE items IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = tx.Commit(ctx) }) }
}

// writer inserts, updates and deletes rows on the source, one transaction
// at a time, until the returned function is called.
func (r replica) writer(t *testing.T) func() {
	conn, err := r.src.Cluster.Connect(context.Background(), r.src.Name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer conn.Close(context.Background())
		for i := 0; ctx.Err() == nil; i++ {
			for _, sql := range []string{
				`INSERT INTO items (id, emb, note) VALUES (10000 + $1::int, '[1,2,3,4,5,6,7,8]', 'w')`,
				`UPDATE items SET note = 'w' || $1::int WHERE id = 1 + ($1::int * 37) % 3000`,
				`DELETE FROM items WHERE id = 1 + ($1::int * 53) % 3000`,
			} {
				if _, err := conn.Exec(ctx, sql, i); err != nil && ctx.Err() == nil {
					t.Errorf("writer: %v", err)
					return
				}
			}
			time.Sleep(5 * time.Millisecond) // paces the load; nothing is proven by it
		}
	}()
	return func() { cancel(); <-done }
}

func TestVerifyOddIdentifiers(t *testing.T) {
	const schema = `CREATE SCHEMA "Odd ""Schema""";
CREATE TABLE "Odd ""Schema"""."Tëst Table" ("Key A" int, "kéy b" text, "Emb Vec" vector(3), "UPPER" text,
	PRIMARY KEY ("Key A", "kéy b"))`
	const fill = `INSERT INTO "Odd ""Schema"""."Tëst Table"
SELECT g % 20, 'b ' || g, ARRAY[g, g % 7, 1]::real[]::vector, 'ÄÖ ''q'' "dq" ' || g FROM generate_series(1, 400) g;`
	const indexes = `
CREATE INDEX "Odd Idx" ON "Odd ""Schema"""."Tëst Table" USING hnsw ("Emb Vec" vector_cosine_ops);
CREATE INDEX "half ""idx""" ON "Odd ""Schema"""."Tëst Table" USING hnsw ((("Emb Vec")::halfvec(3)) halfvec_l2_ops);`
	r := replicate(t, setup{schema: schema, fill: fill, indexes: indexes, copyData: true})
	opts := Options{Tables: []pg.Name{{Schema: `Odd "Schema"`, Name: "Tëst Table"}}, ChunkRows: 50}
	const name = `"Odd ""Schema"""."Tëst Table"`

	rep := r.verify(t, opts, nil)
	if !rep.OK() {
		t.Fatalf("healthy replica reported divergent:\n%s", text(t, rep))
	}
	if tr := tableResult(t, rep, name); tr.SourceRows != 400 || tr.Chunks != 9 || !slices.Equal(tr.Key, []string{"Key A", "kéy b"}) {
		t.Errorf("table = %+v, want 400 rows in 9 chunks keyed by both columns", tr)
	}
	for _, idx := range []string{"Odd Idx", `half "idx"`} {
		if a := annResult(t, rep, idx); !a.ExactOK || a.RecallTarget == nil {
			t.Errorf("%s = %+v, want identical exact neighbours and a target recall", idx, a)
		}
	}

	r.tgt.Exec(t, `DELETE FROM "Odd ""Schema"""."Tëst Table" WHERE "Key A" = 5 AND "kéy b" = 'b 5';
UPDATE "Odd ""Schema"""."Tëst Table" SET "Emb Vec" = '[1,2,3]' WHERE "Key A" = 7 AND "kéy b" = 'b 27'`)
	rep = r.verify(t, opts, nil)
	tr := tableResult(t, rep, name)
	if rep.OK() || !slices.Equal(tr.Missing, []string{`(5,"b 5")`}) || !slices.Equal(tr.Different, []string{`(7,"b 27")`}) {
		t.Errorf("want (5,\"b 5\") missing and (7,\"b 27\") different:\n%s", text(t, rep))
	}
}

func TestVerifyTableWithoutKey(t *testing.T) {
	r := replicate(t, setup{schema: `CREATE TABLE nokey (a int, b text); ALTER TABLE nokey REPLICA IDENTITY FULL`,
		fill: `INSERT INTO nokey SELECT g % 10, 'x' FROM generate_series(1, 100) g`})
	opts := Options{Tables: names(t, "nokey")}
	if rep := r.verify(t, opts, nil); !rep.OK() {
		t.Fatalf("healthy replica reported divergent:\n%s", text(t, rep))
	}
	r.tgt.Exec(t, `DELETE FROM nokey WHERE ctid = (SELECT min(ctid) FROM nokey)`)
	rep := r.verify(t, opts, nil)
	tr := tableResult(t, rep, "public.nokey")
	if rep.OK() || tr.SourceRows != 100 || tr.TargetRows != 99 || !strings.Contains(tr.Note, "no primary key") {
		t.Errorf("want a divergent checksum with 100/99 rows and a note:\n%s", text(t, rep))
	}
}

// TestVerifyProblems covers tables verify cannot compare: those are results
// when the target is at fault, errors when the request is.
func TestVerifyProblems(t *testing.T) {
	tests := []struct {
		name              string
		srcDDL, tgtDDL    string
		tables            []string
		wantErr, wantNote string
	}{
		{name: "table missing on the target", srcDDL: "CREATE TABLE a (id int PRIMARY KEY)",
			tables: []string{"a"}, wantNote: "table missing on the target"},
		{name: "column missing on the target", srcDDL: `CREATE TABLE a (id int PRIMARY KEY, "Odd col" text)`,
			tgtDDL: "CREATE TABLE a (id int PRIMARY KEY)", tables: []string{"a"}, wantNote: `columns missing on the target: "Odd col"`},
		{name: "table missing on the source", tgtDDL: "CREATE TABLE a (id int PRIMARY KEY)",
			tables: []string{"a"}, wantErr: "not found on the source"},
		{name: "no tables", wantErr: "no tables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, tgt := pgtest.Get(t).Pair(t)
			if tt.srcDDL != "" {
				src.Exec(t, tt.srcDDL)
			}
			if tt.tgtDDL != "" {
				tgt.Exec(t, tt.tgtDDL)
			}
			rep, err := Run(context.Background(), src.Conn(t), tgt.Conn(t), Options{Tables: names(t, tt.tables...)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || hint.Of(err) == "" {
					t.Fatalf("err = %v (hint %q), want %q with a hint", err, hint.Of(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || rep.Tables[0].Error != tt.wantNote {
				t.Errorf("want error %q:\n%s", tt.wantNote, text(t, rep))
			}
			if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "no subscription") {
				t.Errorf("notes = %v, want one about the missing subscription", rep.Notes)
			}
		})
	}
}

func text(t *testing.T, rep Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
