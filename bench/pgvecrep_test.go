package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func at(sec float64, text string) line {
	return line{at: time.Duration(sec * float64(time.Second)), text: text}
}

func TestSplitPhases(t *testing.T) {
	tests := []struct {
		name               string
		lines              []line
		wall               float64
		copy, index, other float64
		ok                 bool
	}{
		{
			name: "native",
			lines: []line{
				at(0.5, "[0:00.0] group bench: 1 table(s), copy mode native"),
				at(0.6, "[0:00.1] deferred vector index items_embedding_idx on public.items until the data is in"),
				at(0.7, "[0:00.2] created publication pgvecrep_bench on the source"),
				at(1.0, "[0:00.5] public.items: copying, 5000 rows, 2.5 MiB"),
				at(6.0, "[0:05.5] public.items: copied"),
				at(7.2, "[0:06.7] all 1 table(s) copied in 0:06.2"),
				at(7.3, "[0:06.8] building 1 index(es) and constraint(s): memory budget 1GB (--index-memory), 1 at a time"),
				at(7.4, "[0:06.9] building vector index items_embedding_idx on public.items: building index: loading tuples 50%"),
				at(24.3, "[0:23.8] built vector index items_embedding_idx on public.items in 0:16.9"),
				at(24.4, "[0:23.9] group bench is streaming"),
			},
			wall: 24.5, copy: 6.2, index: 17.1, other: 1.2, ok: true,
		},
		{
			name: "fast",
			lines: []line{
				at(0.4, "[0:00.0] group bench: 1 table(s), copy mode fast"),
				at(0.5, "[0:00.1] deferred 2 index(es), key(s) and foreign key(s) until the data is in (vector: items_embedding_idx)"),
				at(0.6, "[0:00.2] created replication slot pgvecrep_bench on the source at 0/1A2B3C4 (snapshot 00000003-00000002-1)"),
				at(0.8, "[0:00.4] copy public.items: 30 MiB of ~55 MiB, 75 MiB/s"),
				at(1.1, "[0:00.7] copied 100000 rows (56.2 MiB) in 0:00.5, 112.4 MiB/s"),
				at(1.2, "[0:00.8] building 2 index(es) and constraint(s): memory budget 1GB (--index-memory), 1 at a time"),
				at(1.3, "[0:00.9] built primary key items_pkey on public.items in 0:00.1"),
				at(18.1, "[0:17.7] built vector index items_embedding_idx on public.items in 0:16.8"),
				at(18.3, "[0:17.9] analyzed 1 table(s) in 0:00.2"),
				at(18.4, "[0:18.0] group bench is streaming"),
			},
			wall: 18.5, copy: 0.5, index: 17.0, other: 1.0, ok: true,
		},
		{
			name:  "no copy summary",
			lines: []line{at(0.1, "[0:00.0] something else")},
			wall:  3, other: 3,
		},
	}
	near := func(a time.Duration, b float64) bool { return math.Abs(a.Seconds()-b) < 1e-6 }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := splitPhases(tt.lines, time.Duration(tt.wall*float64(time.Second)))
			if ok != tt.ok || !near(p.copy, tt.copy) || !near(p.index, tt.index) || !near(p.other, tt.other) {
				t.Errorf("splitPhases = copy %v index %v other %v ok %v; want %v %v %v %v",
					p.copy, p.index, p.other, ok, tt.copy, tt.index, tt.other, tt.ok)
			}
		})
	}
}

func TestRejected(t *testing.T) {
	for text, want := range map[string]bool{
		`pgvecrep: unknown copy mode "fast"`:               true,
		`--copy-mode: "fast" is not one of native`:         true,
		`pgvecrep: group "bench" is being worked on`:       false,
		`[0:00.7] copied 100000 rows (56.2 MiB) in 0:00.5`: false,
	} {
		if got := rejected(output{lines: []line{{text: text}}}); got != want {
			t.Errorf("rejected(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestSelect(t *testing.T) {
	ss, err := selectScenarios("1,fast,4")
	if err != nil || len(ss) != 3 || ss[0].ID != "index-first" || ss[1].ID != "fast" || ss[2].ID != "floor" {
		t.Errorf("selectScenarios = %v, %v", ss, err)
	}
	if _, err := selectScenarios("6"); err == nil {
		t.Error("selectScenarios(6): want an error")
	}
	ds, err := selectDatasets("768,headline", true)
	if err != nil || len(ds) != 2 || ds[0].Name != "768" || ds[1].Tables[0].Rows != 5_000 {
		t.Errorf("selectDatasets = %v, %v", ds, err)
	}
	if _, err := selectDatasets("huge", false); err == nil {
		t.Error("selectDatasets(huge): want an error")
	}
}

// TestFloorPlan checks the floor's order on the app dataset: vector tables
// copied first, largest first; vector indexes built before keys and btrees;
// the foreign key last.
func TestFloorPlan(t *testing.T) {
	ds, err := selectDatasets("app", false)
	if err != nil {
		t.Fatal(err)
	}
	f := &floorRun{}
	f.plan(ds[0])
	var copies []string
	for _, st := range f.copies {
		copies = append(copies, st.table)
	}
	if got, want := strings.Join(copies, " "), "docs items events orders"; got != want {
		t.Errorf("copy order %q, want %q", got, want)
	}
	first, last := f.builds[0], f.builds[len(f.builds)-1]
	if !strings.Contains(first.sql, "docs_embedding_idx") {
		t.Errorf("first build %q, want the 768-d HNSW index", first.sql)
	}
	if !strings.Contains(last.sql, "FOREIGN KEY") || len(last.after) != 1 || last.after[0] != "events" {
		t.Errorf("last build %q after %v, want the foreign key after events", last.sql, last.after)
	}
	// A foreign key waits for its referenced key, not just its own table's copy.
	f.copied = map[string]bool{"orders": true, "events": true}
	if f.ready(last) {
		t.Error("foreign key ready before events' key is built")
	}
	f.marked["events"] = true
	if !f.ready(last) {
		t.Error("foreign key not ready after events' key is built")
	}
}

// TestFloorPlanPartitioned: on the parts dataset the floor copies each
// leaf, builds the vector index leaf by leaf after the key, and the
// parent's last, once every leaf's is built.
func TestFloorPlanPartitioned(t *testing.T) {
	ds, err := selectDatasets("parts", true)
	if err != nil {
		t.Fatal(err)
	}
	f := &floorRun{}
	f.plan(ds[0])
	if len(f.copies) != 4 || f.copies[0].table != "chunks_p1" || f.copies[0].parent != "chunks" {
		t.Errorf("copies %+v, want the four leaves of chunks", f.copies)
	}
	var parent floorStep
	leaves := 0
	for _, st := range f.builds {
		switch {
		case strings.HasPrefix(st.sql, "CREATE INDEX ON "):
			leaves++
			if len(st.after) != 1 || st.after[0] != "chunks" {
				t.Errorf("leaf build %q waits for %v, want the key of chunks", st.sql, st.after)
			}
		case strings.Contains(st.sql, "chunks_embedding_idx"):
			parent = st
		}
	}
	if leaves != 4 || len(parent.after) != 4 {
		t.Fatalf("%d leaf builds, parent waits for %v; want 4 and 4", leaves, parent.after)
	}
	f.copied["chunks"] = true
	f.marked["chunks"] = true
	if f.ready(parent) {
		t.Error("the parent's index ready before its leaves' indexes")
	}
	for _, m := range parent.after {
		f.marked[m] = true
	}
	if !f.ready(parent) {
		t.Error("the parent's index not ready after its leaves' indexes")
	}
	if rows := ds[0].tableRows("chunks_p2"); rows != 500 {
		t.Errorf("rows of a leaf = %d, want 500", rows)
	}
}

// TestRoundRatio pins how a target is judged: each round's pair, measured
// side by side, then the median; never one scenario's best against
// another's best from a different round.
func TestRoundRatio(t *testing.T) {
	med, each := roundRatio([]float64{139, 153.1}, []float64{163.3, 119.1})
	if len(each) != 2 || med < 1.06 || med > 1.08 {
		t.Errorf("roundRatio = %.3f %v, want the median of 0.85 and 1.29", med, each)
	}
	if med, _ := roundRatio([]float64{3, 1, 2}, []float64{1, 1, 1}); med != 2 {
		t.Errorf("odd median = %v, want 2", med)
	}
	if med, each := roundRatio(nil, []float64{1}); med != 0 || each != nil {
		t.Errorf("no runs: %v %v", med, each)
	}
}

// TestVectorIndexTable: the floor finds the table of every vector index of
// every dataset, and of nothing else.
func TestVectorIndexTable(t *testing.T) {
	vectors := 0
	for _, d := range datasets(false) {
		for _, tb := range d.Tables {
			for _, ix := range append(append([]string{tb.keySQL()}, tb.Indexes...), tb.FKs...) {
				got := vectorIndexTable(ix)
				switch {
				case isVectorIndex(ix) && got != tb.Name:
					t.Errorf("%s: table %q, want %q", ix, got, tb.Name)
				case !isVectorIndex(ix) && got != "":
					t.Errorf("%s: table %q, want none", ix, got)
				}
				if got != "" {
					vectors++
				}
			}
		}
	}
	if vectors < 5 {
		t.Errorf("%d vector indexes in the datasets, want at least 5", vectors)
	}
}
