package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// TestRubyForms pins pg_easy_replicate's JSON forms of a numeric and a
// timestamp, as its Ruby driver prints them (checked against 0.4.0's own
// stats output): scripts compare and parse these strings.
func TestRubyForms(t *testing.T) {
	for n, want := range map[int64]string{0: "0.0", 1234: "0.1234e4", 1000: "0.1e4", -5: "-0.5e1", 7: "0.7e1"} {
		if got := rubyDecimal(n); got != want {
			t.Errorf("rubyDecimal(%d) = %q, want %q", n, got, want)
		}
	}
	at := time.Date(2026, 11, 29, 22, 11, 6, 500, time.FixedZone("x", 3600))
	if b, _ := rubyTime(at).MarshalJSON(); string(b) != `"2026-11-29 21:11:06 UTC"` {
		t.Errorf("rubyTime = %s", b)
	}
}

func TestIndexFromQuery(t *testing.T) {
	for _, tc := range []struct{ q, name, method string }{
		{`CREATE INDEX items_emb_hnsw ON public.items USING hnsw (emb vector_l2_ops) WITH (m = 16)`, "items_emb_hnsw", "hnsw"},
		{`CREATE INDEX "Vëc idx" ON "Mÿ Schema"."Odd ""T"" Ä" USING ivfflat ("Vëc" vector_cosine_ops)`, `"Vëc idx"`, "ivfflat"},
		{`create unique index if not exists ix on t (a)`, "ix", "btree"},
		{`ALTER TABLE public.items ADD CONSTRAINT items_pkey PRIMARY KEY (id)`, "items_pkey", "btree"},
		{`CREATE INDEX ON items USING hnsw (emb)`, "", "hnsw"},
		{``, "", ""},
	} {
		name, method := indexFromQuery(tc.q)
		if name != tc.name || method != tc.method {
			t.Errorf("indexFromQuery(%q) = %q, %q; want %q, %q", tc.q, name, method, tc.name, tc.method)
		}
	}
}

func TestTableState(t *testing.T) {
	for _, tc := range []struct {
		sub, copied string
		phase       group.Phase
		want        string
	}{
		{"r", "copied", group.Streaming, "streaming"},
		{"r", "copied", group.Indexing, "indexing"},
		{"", "copied", group.Indexing, "indexing"},
		{"", "copying", group.Copying, "copying"},
		{"", "copied", group.Stopped, "stopped"},
		{"", "copied", group.SwitchedOver, "detached"},
		{"", "copied", group.FailedOver, "detached"},
		{"", "copying", group.Failed, "pending"},
		{"", "", group.Bootstrapped, "-"},
	} {
		if got := tableState(tc.sub, tc.copied, tc.phase); got != tc.want {
			t.Errorf("tableState(%q, %q, %s) = %q, want %q", tc.sub, tc.copied, tc.phase, got, tc.want)
		}
	}
}

func TestLagText(t *testing.T) {
	held := int64(48 << 20)
	lag := int64(0)
	for _, tc := range []struct {
		r    Report
		want string
	}{
		{Report{Phase: group.Indexing, Lag: Lag{SourceReachable: true, SlotWALBytes: &held}}, "WAL held by the slot: 48.0 MiB; streaming starts after the index build"},
		{Report{Phase: group.Copying, Lag: Lag{SourceReachable: true, SlotWALBytes: &held}}, "streaming starts after the copy and the index build"},
		{Report{Phase: group.Streaming, Lag: Lag{SourceReachable: true, Bytes: &lag, Subscription: true}}, "0 B"},
		{Report{Phase: group.Streaming, Lag: Lag{SourceProblem: "not configured (set SOURCE_DB_URL or --source-url)"}}, "source not configured"},
	} {
		if got := tc.r.lagText(); !strings.Contains(got, tc.want) {
			t.Errorf("lagText = %q, want it to contain %q", got, tc.want)
		}
	}
}

// TestJSONKeys: pg_easy_replicate's keys are at the top level with its
// types (lists, a count map, timestamps or null), pgvecrep's under "pgvecrep".
func TestJSONKeys(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := Report{Group: "g", Phase: group.SwitchedOver}
	r.Compat.setPhaseTimes(group.Group{Phase: group.SwitchedOver, UpdatedAt: at})
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"lag_stats", "replication_slots", "replication_stats", "message_lsn_receipts"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %#v, want a list", k, m[k])
		}
	}
	for _, k := range []string{"replication_stats_count_by_state", "count_by_state", "pgvecrep"} {
		if _, ok := m[k].(map[string]any); !ok {
			t.Errorf("%s = %#v, want an object", k, m[k])
		}
	}
	if m["switchover_completed_at"] != "2026-01-02 03:04:05 UTC" || m["sync_failed_at"] != nil {
		t.Errorf("timestamps: %v, %v", m["switchover_completed_at"], m["sync_failed_at"])
	}
	if _, there := m["sync_started_at"]; !there {
		t.Error("sync_started_at missing")
	}
	if p := m["pgvecrep"].(map[string]any); p["phase"] != "switched_over" || p["group"] != "g" {
		t.Errorf("pgvecrep = %v", p)
	}
}

// TestSyncStalled: a table that is not ready while the subscription counts
// table-sync failures reads stalled, never copying, and so does the
// subscription's health; a ready table, or no failure, changes nothing.
func TestSyncStalled(t *testing.T) {
	for _, tc := range []struct {
		name       string
		syncErrors int64
		states     []string
		want       []string
		stalled    bool
	}{
		{"copy failing", 3, []string{"copying", "streaming"}, []string{"stalled", "streaming"}, true},
		{"waiting to retry", 1, []string{"waiting"}, []string{"stalled"}, true},
		{"errors over, all ready", 2, []string{"streaming", "indexing"}, []string{"streaming", "indexing"}, false},
		{"copying without errors", 0, []string{"copying"}, []string{"copying"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replication.Health{Exists: true, Enabled: true, Worker: true, SyncErrors: tc.syncErrors}
			tables := make([]TableStat, len(tc.states))
			for i, s := range tc.states {
				tables[i] = TableStat{Table: fmt.Sprintf("public.t%d", i), State: s}
			}
			failing := syncStalled(&h, tables)
			for i, ts := range tables {
				if ts.State != tc.want[i] {
					t.Errorf("table %d reads %q, want %q", i, ts.State, tc.want[i])
				}
			}
			if h.Stalled != tc.stalled || (len(failing) > 0) != tc.stalled || tc.stalled && !strings.Contains(h.Reason, "public.t0") {
				t.Errorf("health stalled %v (%q), %d failing; want stalled %v naming the table", h.Stalled, h.Reason, len(failing), tc.stalled)
			}
		})
	}
}
