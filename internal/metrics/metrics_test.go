package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

func scrape(t *testing.T, c *Collector) string {
	t.Helper()
	h, err := Handler(c)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// series reads a scrape in Prometheus' text format into its samples,
// `name{labels}` to value, leaving out Go's process metrics.
func series(t *testing.T, scrape string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(scrape), "\n") {
		if !strings.HasPrefix(line, "pgvecrep_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestCollectorFromReport: a report in the indexing phase becomes exactly
// these samples, values included, in Prometheus' text format (the
// handler's own consistency checks reject duplicate or malformed series):
// a sample too many, one missing or one with another value fails.
func TestCollectorFromReport(t *testing.T) {
	held, lag, secs, eta, rate := int64(4096), int64(512), 1.5, 3.0, 170.5
	r := stats.Report{Group: "g", Phase: group.Indexing,
		Tables: []stats.TableStat{{Table: "public.a", State: "indexing", RowsCopied: 10, BytesCopied: 100}, {Table: "public.b", State: "indexing", RowsCopied: 5, BytesCopied: 50},
			{Table: "public.c", State: "copying", RowsCopied: 7, BytesCopied: 70}},
		Lag: stats.Lag{SourceReachable: true, SlotWALBytes: &held, Bytes: &lag, ConfirmedLSN: "1/100",
			Seconds: &secs, CatchUp: &eta, ApplyRate: &rate, InFlight: &replication.InFlight{Bytes: 256}},
		Builds: []stats.BuildStat{{Index: "a_emb_idx", Table: "public.a", Method: "hnsw", Phase: "building index: loading tuples", Percent: 40}},
		Copies: []stats.CopyStat{{Table: "public.c", Rows: 3, Bytes: 30}},
		Health: &replication.Health{ApplyErrors: 2, SyncErrors: 1, Stalled: true},
	}
	want := map[string]float64{
		`pgvecrep_up{group="g"}`:                                     1,
		`pgvecrep_source_up{group="g"}`:                              1,
		`pgvecrep_stalled{group="g"}`:                                1,
		`pgvecrep_apply_errors_total{group="g"}`:                     2,
		`pgvecrep_sync_errors_total{group="g"}`:                      1,
		`pgvecrep_tables{group="g",state="indexing"}`:                2,
		`pgvecrep_tables{group="g",state="copying"}`:                 1,
		`pgvecrep_copied_rows_total{group="g"}`:                      22,
		`pgvecrep_copied_bytes_total{group="g"}`:                     220,
		`pgvecrep_slot_wal_bytes{group="g"}`:                         4096,
		`pgvecrep_lag_bytes{group="g"}`:                              512,
		`pgvecrep_in_flight_bytes{group="g"}`:                        256,
		`pgvecrep_lag_seconds{group="g"}`:                            1.5,
		`pgvecrep_catch_up_seconds{group="g"}`:                       3,
		`pgvecrep_apply_rate_bytes_per_second{group="g"}`:            170.5,
		`pgvecrep_applied_wal_bytes_total{group="g"}`:                1<<32 + 0x100,
		`pgvecrep_copy_in_progress_rows{group="g",table="public.c"}`: 3,
		`pgvecrep_index_build_progress_ratio{group="g",index="a_emb_idx",method="hnsw",phase="building index: loading tuples",table="public.a"}`: 0.4,
	}
	for _, p := range Phases {
		want[`pgvecrep_phase{group="g",phase="`+string(p)+`"}`] = boolf(p == group.Indexing)
	}
	out := scrape(t, New("g", func(context.Context) (stats.Report, error) { return r, nil }, nil))
	got := series(t, out)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected sample %s %v", k, v)
		}
	}
	if !strings.Contains(out, "# TYPE pgvecrep_copied_rows_total counter\n") || !strings.Contains(out, "# TYPE pgvecrep_lag_bytes gauge\n") {
		t.Errorf("counters and gauges are not typed as such:\n%s", out)
	}
}

func TestCollectorReadFails(t *testing.T) {
	var heard error
	out := scrape(t, New("g", func(context.Context) (stats.Report, error) { return stats.Report{}, errors.New("boom") }, func(err error) { heard = err }))
	if got := series(t, out); len(got) != 1 || got[`pgvecrep_up{group="g"}`] != 0 || heard == nil {
		t.Errorf("a failed read is not pgvecrep_up 0 (heard %v):\n%s", heard, out)
	}
}

// TestCollectorReverse: the reverse stream's samples, values included,
// for each shape the report takes: applying, stalled, source unreachable,
// preparing (no subscription yet), and no reverse stream at all (none of
// its series). Every pgvecrep_reverse_ sample must be one of want.
func TestCollectorReverse(t *testing.T) {
	lag, secs := int64(2048), 2.5
	states := func(cur group.ReverseState) map[string]float64 {
		out := map[string]float64{}
		for _, s := range ReverseStates {
			out[`pgvecrep_reverse_state{group="g",state="`+string(s)+`"}`] = boolf(s == cur)
		}
		return out
	}
	with := func(m map[string]float64, kv ...any) map[string]float64 {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(float64)
		}
		return m
	}
	for _, tc := range []struct {
		name string
		rev  *stats.ReverseStat
		want map[string]float64
	}{
		{"applying", &stats.ReverseStat{State: group.ReverseStreaming, LagBytes: &lag, LagSeconds: &secs, Health: &replication.Health{Exists: true, Enabled: true, Worker: true, ApplyErrors: 3}},
			with(states(group.ReverseStreaming), `pgvecrep_reverse_up{group="g"}`, 1.0, `pgvecrep_reverse_lag_bytes{group="g"}`, 2048.0,
				`pgvecrep_reverse_lag_seconds{group="g"}`, 2.5, `pgvecrep_reverse_apply_errors_total{group="g"}`, 3.0)},
		{"stalled", &stats.ReverseStat{State: group.ReverseStreaming, LagBytes: &lag, LagSeconds: &secs, Health: &replication.Health{Exists: true, Enabled: true, ApplyErrors: 7, Stalled: true}},
			with(states(group.ReverseStreaming), `pgvecrep_reverse_up{group="g"}`, 0.0, `pgvecrep_reverse_lag_bytes{group="g"}`, 2048.0,
				`pgvecrep_reverse_lag_seconds{group="g"}`, 2.5, `pgvecrep_reverse_apply_errors_total{group="g"}`, 7.0)},
		{"source unreachable", &stats.ReverseStat{State: group.ReverseDetaching},
			with(states(group.ReverseDetaching), `pgvecrep_reverse_up{group="g"}`, 0.0)},
		{"preparing", &stats.ReverseStat{State: group.ReversePreparing, LagBytes: &lag},
			with(states(group.ReversePreparing), `pgvecrep_reverse_up{group="g"}`, 0.0, `pgvecrep_reverse_lag_bytes{group="g"}`, 2048.0)},
		{"none", nil, map[string]float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := stats.Report{Group: "g", Phase: group.SwitchedOver, Reverse: tc.rev}
			got := series(t, scrape(t, New("g", func(context.Context) (stats.Report, error) { return r, nil }, nil)))
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			for k, v := range got {
				if _, ok := tc.want[k]; strings.HasPrefix(k, "pgvecrep_reverse_") && !ok {
					t.Errorf("unexpected sample %s %v", k, v)
				}
			}
		})
	}
}

// TestCollectorStreams: each apply stream has its own series, labelled
// with its name, values included: lag in bytes and seconds and catch-up
// while known, stalled and up always, its apply errors while it has a
// subscription. Every pgvecrep_stream_ sample must be one of want.
func TestCollectorStreams(t *testing.T) {
	zero, behind, secs, none, eta := int64(0), int64(70000), 12.5, 0.0, 30.0
	r := stats.Report{Group: "g", Phase: group.Stalled, Streams: []stats.StreamStat{
		{Name: "pgvecrep_g", State: stats.StreamStreaming, Lag: stats.Lag{SourceReachable: true, Bytes: &zero, Seconds: &none, CatchUp: &none},
			Health: &replication.Health{Exists: true, Enabled: true, Worker: true, ApplyErrors: 1}},
		{Name: "pgvecrep_g_p1", State: stats.StreamDisabled, Lag: stats.Lag{SourceReachable: true, Bytes: &behind, Seconds: &secs},
			Health: &replication.Health{Exists: true, Stalled: true, ApplyErrors: 4}},
		{Name: "pgvecrep_g_p2", State: stats.StreamNoWorker, Lag: stats.Lag{SourceReachable: true, Bytes: &behind, Seconds: &secs, CatchUp: &eta},
			Health: &replication.Health{Exists: true, Enabled: true}},
		{Name: "pgvecrep_g_p3", State: stats.StreamAbsent, Lag: stats.Lag{SourceReachable: true}},
	}}
	want := map[string]float64{
		`pgvecrep_stream_lag_bytes{group="g",stream="pgvecrep_g"}`:             0,
		`pgvecrep_stream_lag_seconds{group="g",stream="pgvecrep_g"}`:           0,
		`pgvecrep_stream_catch_up_seconds{group="g",stream="pgvecrep_g"}`:      0,
		`pgvecrep_stream_stalled{group="g",stream="pgvecrep_g"}`:               0,
		`pgvecrep_stream_up{group="g",stream="pgvecrep_g"}`:                    1,
		`pgvecrep_stream_apply_errors_total{group="g",stream="pgvecrep_g"}`:    1,
		`pgvecrep_stream_lag_bytes{group="g",stream="pgvecrep_g_p1"}`:          70000,
		`pgvecrep_stream_lag_seconds{group="g",stream="pgvecrep_g_p1"}`:        12.5,
		`pgvecrep_stream_stalled{group="g",stream="pgvecrep_g_p1"}`:            1,
		`pgvecrep_stream_up{group="g",stream="pgvecrep_g_p1"}`:                 0,
		`pgvecrep_stream_apply_errors_total{group="g",stream="pgvecrep_g_p1"}`: 4,
		`pgvecrep_stream_lag_bytes{group="g",stream="pgvecrep_g_p2"}`:          70000,
		`pgvecrep_stream_lag_seconds{group="g",stream="pgvecrep_g_p2"}`:        12.5,
		`pgvecrep_stream_catch_up_seconds{group="g",stream="pgvecrep_g_p2"}`:   30,
		`pgvecrep_stream_stalled{group="g",stream="pgvecrep_g_p2"}`:            0,
		`pgvecrep_stream_up{group="g",stream="pgvecrep_g_p2"}`:                 0,
		`pgvecrep_stream_apply_errors_total{group="g",stream="pgvecrep_g_p2"}`: 0,
		`pgvecrep_stream_stalled{group="g",stream="pgvecrep_g_p3"}`:            0,
		`pgvecrep_stream_up{group="g",stream="pgvecrep_g_p3"}`:                 0,
	}
	out := scrape(t, New("g", func(context.Context) (stats.Report, error) { return r, nil }, nil))
	got := series(t, out)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; strings.HasPrefix(k, "pgvecrep_stream_") && !ok {
			t.Errorf("unexpected sample %s %v", k, v)
		}
	}
	if !strings.Contains(out, "# TYPE pgvecrep_stream_apply_errors_total counter\n") || !strings.Contains(out, "# TYPE pgvecrep_stream_lag_bytes gauge\n") {
		t.Errorf("counters and gauges are not typed as such:\n%s", out)
	}
}
