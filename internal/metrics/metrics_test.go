package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
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

// TestCollectorFromReport: a report in the indexing phase becomes the
// metrics a dashboard needs, in Prometheus' text format (the handler's own
// consistency checks reject duplicate or malformed series).
func TestCollectorFromReport(t *testing.T) {
	held, lag := int64(4096), int64(0)
	r := stats.Report{Group: "g", Phase: group.Indexing,
		Tables: []stats.TableStat{{Table: "public.a", State: "indexing", RowsCopied: 10, BytesCopied: 100}, {Table: "public.b", State: "indexing", RowsCopied: 5, BytesCopied: 50}},
		Lag:    stats.Lag{SourceReachable: true, SlotWALBytes: &held, Bytes: &lag, ConfirmedLSN: "0/100"},
		Builds: []stats.BuildStat{{Index: "a_emb_idx", Table: "public.a", Method: "hnsw", Phase: "building index: loading tuples", Percent: 40}},
	}
	out := scrape(t, New("g", func(context.Context) (stats.Report, error) { return r, nil }, nil))
	for _, want := range []string{
		`pgvecrep_up{group="g"} 1`,
		`pgvecrep_phase{group="g",phase="indexing"} 1`,
		`pgvecrep_phase{group="g",phase="streaming"} 0`,
		`pgvecrep_tables{group="g",state="indexing"} 2`,
		`pgvecrep_copied_rows_total{group="g"} 15`,
		`pgvecrep_copied_bytes_total{group="g"} 150`,
		`pgvecrep_slot_wal_bytes{group="g"} 4096`,
		`pgvecrep_lag_bytes{group="g"} 0`,
		`pgvecrep_applied_wal_bytes_total{group="g"} 256`,
		`pgvecrep_index_build_progress_ratio{group="g",index="a_emb_idx",method="hnsw",phase="building index: loading tuples",table="public.a"} 0.4`,
		`# TYPE pgvecrep_copied_rows_total counter`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("scrape lacks %q:\n%s", want, out)
		}
	}
}

func TestCollectorReadFails(t *testing.T) {
	var heard error
	out := scrape(t, New("g", func(context.Context) (stats.Report, error) { return stats.Report{}, errors.New("boom") }, func(err error) { heard = err }))
	if !strings.Contains(out, `pgvecrep_up{group="g"} 0`) || heard == nil {
		t.Errorf("a failed read is not pgvecrep_up 0 (heard %v):\n%s", heard, out)
	}
}
