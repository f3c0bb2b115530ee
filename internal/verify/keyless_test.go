package verify

import (
	"strings"
	"sync/atomic"
	"testing"
)

// eventLog is a table without a key and without a replica identity, like
// pgbench_history or an audit log: insert-only, with repeated rows.
var eventLog = setup{schema: `CREATE TABLE event_log (at int, what text)`,
	fill: `INSERT INTO event_log SELECT g % 50, 'seen' FROM generate_series(1, 400) g`}

// TestVerifyKeylessUnderWrites (issue 24, item 4): a table without a key
// that the application keeps writing to is not divergent. The writes land
// after every read of the source, so every checksum pass differs; the
// whole-row comparison after the drain must see them as changes in
// flight, the way keyed rows are.
func TestVerifyKeylessUnderWrites(t *testing.T) {
	tests := []struct {
		name  string
		write string // on the source after each of verify's source reads
	}{
		{name: "inserts", write: `INSERT INTO event_log VALUES (1000 + $1::int, 'new')`},
		{name: "repeated rows", write: `INSERT INTO event_log SELECT 7, 'seen' WHERE $1::int > 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := replicate(t, eventLog)
			var n atomic.Int64
			hook := func(pass string) { r.src.Exec(t, tt.write, n.Add(1)) }
			rep := r.verify(t, Options{Tables: names(t, "event_log")}, hook)
			tr := tableResult(t, rep, "public.event_log")
			if !rep.OK() {
				t.Fatalf("writes in flight on a table without a key reported as divergence:\n%s", text(t, rep))
			}
			if tr.Rechecked != 1 || n.Load() < 3 {
				t.Errorf("rechecked %d chunk(s) after %d writes; want the checksum re-read, then the rows compared", tr.Rechecked, n.Load())
			}
			if !strings.Contains(text(t, rep), "public.event_log: no primary key or replica identity index: compared the whole table's row count and checksum") {
				t.Errorf("the report does not say what was compared:\n%s", text(t, rep))
			}
		})
	}
}

// TestVerifyKeylessDivergence: rows the target lacks, has extra, or has a
// different number of times are divergence, counted (a row without a key
// cannot be named), and the report says what was compared.
func TestVerifyKeylessDivergence(t *testing.T) {
	r := replicate(t, eventLog)
	opts := Options{Tables: names(t, "event_log")}
	rep := r.verify(t, opts, nil)
	if tr := tableResult(t, rep, "public.event_log"); !rep.OK() || tr.SourceRows != 400 || !strings.Contains(tr.Note, "compared the whole table") {
		t.Fatalf("healthy table without a key:\n%s", text(t, rep))
	}
	r.tgt.Exec(t, `DELETE FROM event_log WHERE ctid = (SELECT min(ctid) FROM event_log WHERE at = 3);
		INSERT INTO event_log VALUES (-1, 'only on the target')`)
	rep = r.verify(t, opts, nil)
	tr := tableResult(t, rep, "public.event_log")
	out := text(t, rep)
	if rep.OK() || tr.DivergentRows != 2 || tr.SourceRows != 400 || tr.TargetRows != 400 {
		t.Errorf("want 2 distinct rows divergent, 400 rows on each side:\n%s", out)
	}
	for _, want := range []string{"DIVERGENT: 2 distinct rows differ", "2 distinct row(s) are missing on the target, extra there, or there a different number of times"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
