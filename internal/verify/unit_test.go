package verify

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"math"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestSameNeighbours(t *testing.T) {
	n := func(key string, d float64) neighbour { return neighbour{key, d} }
	tests := []struct {
		name string
		a, b []neighbour
		want bool
	}{
		{"identical", []neighbour{n("1", 0), n("2", 0.5)}, []neighbour{n("1", 0), n("2", 0.5)}, true},
		{"both empty", nil, nil, true},
		{"different lengths", []neighbour{n("1", 0)}, nil, false},
		{"different key", []neighbour{n("1", 0), n("2", 0.5), n("4", 0.9)}, []neighbour{n("1", 0), n("3", 0.5), n("4", 0.9)}, false},
		{"tie swapped", []neighbour{n("1", 0.5), n("2", 0.5), n("3", 1)}, []neighbour{n("2", 0.5), n("1", 0.5), n("3", 1)}, true},
		{"near tie swapped by rounding", []neighbour{n("1", 0.3000001), n("2", 0.3)}, []neighbour{n("2", 0.3), n("1", 0.3000001)}, true},
		{"tie at the k-th distance", []neighbour{n("1", 0.1), n("2", 0.7)}, []neighbour{n("1", 0.1), n("9", 0.7)}, true},
		{"missing before the k-th", []neighbour{n("1", 0.1), n("2", 0.5), n("3", 0.7)}, []neighbour{n("9", 0.1), n("2", 0.5), n("3", 0.7)}, false},
		{"distance differs", []neighbour{n("1", 0.1)}, []neighbour{n("1", 0.2)}, false},
		{"NaN on both", []neighbour{n("1", math.NaN())}, []neighbour{n("1", math.NaN())}, true},
		{"NaN on one", []neighbour{n("1", math.NaN())}, []neighbour{n("1", 0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameNeighbours(tt.a, tt.b); got != tt.want {
				t.Errorf("sameNeighbours = %v, want %v", got, tt.want)
			}
			if got := sameNeighbours(tt.b, tt.a); got != tt.want {
				t.Errorf("sameNeighbours reversed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDiffRowsAndIntersect(t *testing.T) {
	src := map[string]string{"1": "a", "2": "b", "3": "c"}
	tgt := map[string]string{"1": "a", "2": "x", "4": "d"}
	got := diffRows(src, tgt)
	want := map[string]string{"2": kindDifferent, "3": kindMissing, "4": kindExtra}
	if !maps.Equal(got, want) {
		t.Fatalf("diffRows = %v, want %v", got, want)
	}
	later := []map[string]string{{"2": kindDifferent, "5": kindExtra, "3": kindDifferent}}
	kept := intersect([]map[string]string{got}, later)
	if want := map[string]string{"2": kindDifferent, "3": kindDifferent}; !maps.Equal(kept[0], want) {
		t.Errorf("intersect = %v, want %v (keys in both rounds, as the later one sees them)", kept[0], want)
	}
}

// TestSettled pins the bracketing read: a difference is a change in flight
// when the target holds what the source holds after the target was read
// (a row updated, deleted or inserted meanwhile), and divergence otherwise.
func TestSettled(t *testing.T) {
	src := map[string]string{"upd": "a", "del": "b", "bad": "c", "gone": "d"}
	tgt := map[string]string{"upd": "a2", "bad": "x", "ins": "e", "gone": "d2"}
	after := map[string]string{"upd": "a2", "del": "b", "bad": "c", "ins": "e", "gone": "d3"}
	got := settled(diffRows(src, tgt), tgt, after)
	want := map[string]string{"bad": kindDifferent, "gone": kindDifferent, "del": kindMissing}
	if !maps.Equal(got, want) {
		t.Errorf("settled = %v, want %v", got, want)
	}
	// A row deleted on the source after its first read, and on the target.
	delete(after, "del")
	if got := settled(map[string]string{"del": kindMissing}, tgt, after); len(got) != 0 {
		t.Errorf("a delete in flight reported: %v", got)
	}
}

func TestCompareKeys(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"9", "10", -1}, {"10", "9", 1}, {"-5", "3", -1}, {"7", "7", 0},
		{"(1,b)", "(1,a)", 1}, {"abc", "abd", -1}, {"10", "9a", -1},
	}
	for _, tt := range tests {
		if got := compareKeys(tt.a, tt.b); got != tt.want {
			t.Errorf("compareKeys(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestReportKeysCapped(t *testing.T) {
	m := map[string]string{}
	for i := range maxKeys + 5 {
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = kindMissing
	}
	var res TableResult
	report(&res, []map[string]string{m, {"zz": kindExtra}})
	if res.DivergentRows != maxKeys+6 || len(res.Missing)+len(res.Extra) != maxKeys || !res.Truncated {
		t.Errorf("got %d rows, %d listed, truncated %v; want %d rows, %d listed, truncated",
			res.DivergentRows, len(res.Missing)+len(res.Extra), res.Truncated, maxKeys+6, maxKeys)
	}
}

func TestPlanUses(t *testing.T) {
	const plan = `[{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan", "Index Name": "Odd \"Idx\""}]}}]`
	var doc any
	if err := json.Unmarshal([]byte(plan), &doc); err != nil {
		t.Fatal(err)
	}
	if !planUses(doc, `Odd "Idx"`) || planUses(doc, "other") {
		t.Error("planUses does not find exactly the index in the plan")
	}
}

// sampleReport has one of everything a report can show.
func sampleReport() Report {
	r1, r2 := 0.975, 0.5
	return Report{
		Tables: []TableResult{
			{Table: "public.items", Key: []string{"id"}, SourceRows: 3000, TargetRows: 3000, Chunks: 7},
			{Table: `"Odd Schema"."Tëst"`, Key: []string{"Key A", "kéy b"}, SourceRows: 400, TargetRows: 399, Chunks: 9,
				Rechecked: 2, MismatchedChunks: 2, Missing: []string{`(5,"b 5")`}, Different: []string{`(7,"b 27")`}, DivergentRows: 2},
			{Table: "public.nokey", Key: []string{}, SourceRows: 100, TargetRows: 99, Chunks: 1, MismatchedChunks: 1,
				Note: "no primary key or replica identity index: the checksum differs but rows cannot be named"},
			{Table: "public.gone", Key: []string{"id"}, Error: "table missing on the target"},
		},
		ANN: []ANNResult{
			{Table: "public.items", Index: "items_emb_l2", TargetIndex: "items_emb_l2", Expr: "emb", Opclass: "vector_l2_ops",
				Operator: "<->", Queries: 20, Limit: 10, ExactOK: true, RecallSource: &r1, RecallTarget: &r2},
			{Table: "public.items", Index: "items_emb_cos", Expr: "emb", Opclass: "vector_cosine_ops", Operator: "<=>",
				Queries: 20, Limit: 10, ExactMismatches: 1, Examples: []string{"query 3: source [1 2], target [1 3]"},
				RecallSource: &r1, Note: "no matching index on the target"},
			{Table: "public.items", Index: "items_bits", Expr: "bits", Opclass: "bit_hamming_ops", Limit: 10,
				Skipped: "operator class bit_hamming_ops is not checked (only l2, inner product, cosine and l1 on vector and halfvec)"},
		},
		Schema: &SchemaResult{Tables: 4,
			Differences: []SchemaDiff{{Kind: "column", Object: "public.items.emb", Aspect: "type", Source: "public.vector(1536)", Target: "public.vector(768)"}},
			Expected: []SchemaDiff{{Kind: "constraint", Object: "public.items.items_owner_fkey", Aspect: "valid", Source: "yes", Target: "no",
				Reason: "it references public.owners, which the group does not replicate, so start_sync built it NOT VALID"}}},
		Notes: []string{"replication lag did not drain within 1m0s: differences may be changes in flight; check the subscription (pgvecrep stats, the target's log) and run verify again"},
	}
}

func TestReportOutput(t *testing.T) {
	rep := sampleReport()
	if rep.OK() {
		t.Error("report with divergence is OK")
	}
	healthy := Report{Tables: rep.Tables[:1], ANN: []ANNResult{rep.ANN[0], rep.ANN[2]}}
	if !healthy.OK() {
		t.Error("healthy report (with a skipped index) is not OK")
	}
	for _, tt := range []struct {
		file  string
		write func(Report, *bytes.Buffer) error
	}{
		{"report.txt", func(r Report, b *bytes.Buffer) error { return r.WriteTable(b) }},
		{"report.json", func(r Report, b *bytes.Buffer) error { return r.WriteJSON(b) }},
	} {
		var b bytes.Buffer
		if err := tt.write(rep, &b); err != nil {
			t.Fatal(err)
		}
		pgtest.Golden(t, tt.file, b.Bytes(), *update)
	}
}

// TestInFlightDropped pins the bracketing of the exact-neighbour check: a
// query whose target list equals the source's later read is a change in
// flight; one that matches neither source read stays a mismatch.
func TestInFlightDropped(t *testing.T) {
	a := []neighbour{{"1", 0.1}, {"2", 0.2}}
	b := []neighbour{{"1", 0.1}, {"3", 0.3}}
	c := []neighbour{{"4", 0.1}, {"5", 0.2}}
	tgt := [][]neighbour{b, c}
	after := [][]neighbour{b, a}
	if got := inFlightDropped([]int{0, 1}, after, tgt); len(got) != 1 || got[0] != 1 {
		t.Errorf("inFlightDropped = %v, want [1] (query 0 caught up, query 1 diverges)", got)
	}
}
