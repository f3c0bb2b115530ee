package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// streamLagJSON is the part of a lag in stats' JSON these tests read.
type streamLagJSON struct {
	Bytes   *int64
	Seconds *float64
}

// streamsJSON is the part of stats' JSON about apply streams.
type streamsJSON struct {
	ReplicationSlots   []map[string]any `json:"replication_slots"`
	LagStats           []map[string]any `json:"lag_stats"`
	MessageLSNReceipts []map[string]any `json:"message_lsn_receipts"`
	ReplicationStats   []struct {
		TableName string `json:"table_name"`
	} `json:"replication_stats"`
	Pgvecrep struct {
		Phase  string
		Lag    streamLagJSON
		Health *struct {
			Stalled     bool
			Reason      string
			ApplyErrors int64 `json:"apply_error_count"`
		} `json:"subscription_health"`
		Streams []struct {
			Name, State string
			Lag         streamLagJSON
			Health      *struct{ Stalled, Enabled bool } `json:"subscription_health"`
		}
	}
}

func readStreams(t *testing.T, src, tgt pgtest.DB, groupName string) streamsJSON {
	t.Helper()
	r := mustRun(t, src, tgt, "stats", "-g", groupName, "--json")
	var st streamsJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stats output is not JSON: %v\n%s", err, r.stdout)
	}
	return st
}

// addStream gives group a second apply stream by hand, the way parallel
// apply makes one: a publication of the odd hash share of items, a copy
// of stream 0's slot, a subscription attached to it without copying, and
// the stream recorded in the group. It is taken down when the test ends
// (before the pair's databases go), as stream 0 is by cleanup.
func addStream(t *testing.T, src, tgt pgtest.DB, groupName string) string {
	t.Helper()
	obj := group.ObjectName(groupName)
	name := group.StreamName(obj, 1)
	src.Exec(t, fmt.Sprintf(`CREATE PUBLICATION %s FOR TABLE items WHERE ((hashint4(id) & 2147483647) %% 2 = 1)`, name))
	src.Exec(t, `SELECT pg_copy_logical_replication_slot($1, $2)`, obj, name)
	tgt.Exec(t, fmt.Sprintf(`CREATE SUBSCRIPTION %s CONNECTION '%s' PUBLICATION %s WITH (create_slot = false, slot_name = '%s', copy_data = false)`,
		name, strings.ReplaceAll(src.URL, "'", "''"), name, name))
	if err := group.SetStreams(context.Background(), tgt.Conn(t), groupName, 2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropStream(t, src, tgt, name) })
	return name
}

// dropStream takes down a stream addStream made: the subscription without
// its slot, then the slot once no walsender holds it, and the publication.
func dropStream(t *testing.T, src, tgt pgtest.DB, name string) {
	if tgt.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subname = $1", name) > 0 {
		for _, sql := range []string{"ALTER SUBSCRIPTION %s DISABLE", "ALTER SUBSCRIPTION %s SET (slot_name = NONE)", "DROP SUBSCRIPTION %s"} {
			tgt.Exec(t, fmt.Sprintf(sql, name))
		}
	}
	pgtest.WaitFor(t, "no walsender on slot "+name, func() bool {
		return src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active", name) == 0
	})
	src.Exec(t, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", name)
	src.Exec(t, "DROP PUBLICATION IF EXISTS "+name)
}

// TestStatsEveryApplyStream gives a streaming group a second apply stream
// and reads stats and the metrics: both streams are listed, streaming and
// caught up, with pg_easy_replicate's per-object lists holding both
// (stream 0 first) and its table list the tables once. Then stream 1 is
// disabled while the source writes: its lag grows by at least the WAL
// written, stream 0 stays ahead, the group's lag is stream 1's, the group
// reads stalled naming stream 1, and the exporter shows both streams'
// series with their stream label and the group's lag as stream 1's. After
// the extra stream is dropped, cleanup leaves nothing behind.
func TestStatsEveryApplyStream(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streamItems(t, src, tgt, "ps")
	p1 := addStream(t, src, tgt, "ps")

	var st streamsJSON
	defer func() {
		if t.Failed() {
			t.Logf("the last stats: %+v", st.Pgvecrep)
		}
	}()
	pgtest.WaitFor(t, "two streams, streaming and caught up", func() bool {
		st = readStreams(t, src, tgt, "ps")
		s := st.Pgvecrep.Streams
		return len(s) == 2 && s[0].State == "streaming" && s[1].State == "streaming" && len(st.LagStats) == 2 &&
			s[0].Lag.Bytes != nil && *s[0].Lag.Bytes == 0 && s[1].Lag.Bytes != nil && *s[1].Lag.Bytes == 0
	})
	if s := st.Pgvecrep.Streams; s[0].Name != "pgvecrep_ps" || s[1].Name != p1 || st.Pgvecrep.Phase != "streaming" {
		t.Errorf("streams %+v in phase %s", s, st.Pgvecrep.Phase)
	}
	for what, rows := range map[string][]map[string]any{"replication_slots": st.ReplicationSlots, "lag_stats": st.LagStats} {
		key := map[string]string{"replication_slots": "slot_name", "lag_stats": "application_name"}[what]
		if len(rows) != 2 || rows[0][key] != "pgvecrep_ps" || rows[1][key] != p1 {
			t.Errorf("%s = %v, want %s and %s in that order", what, rows, "pgvecrep_ps", p1)
		}
	}
	if len(st.MessageLSNReceipts) != 2 || len(st.ReplicationStats) != 1 || st.ReplicationStats[0].TableName != "items" {
		t.Errorf("message_lsn_receipts = %v, replication_stats = %v", st.MessageLSNReceipts, st.ReplicationStats)
	}

	tgt.Exec(t, "ALTER SUBSCRIPTION "+p1+" DISABLE")
	pgtest.WaitFor(t, "stream 1's walsender gone", func() bool {
		return src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active", p1) == 0
	})
	src.Exec(t, `INSERT INTO items SELECT i, '[4,5,6]' FROM generate_series(51, 250) i`)
	var first int64
	pgtest.WaitFor(t, "stream 1 behind, stream 0 caught up, the group's lag stream 1's", func() bool {
		st = readStreams(t, src, tgt, "ps")
		s, l := st.Pgvecrep.Streams, st.Pgvecrep.Lag
		if len(s) != 2 || s[0].Lag.Bytes == nil || s[1].Lag.Bytes == nil || l.Bytes == nil || l.Seconds == nil || s[1].Lag.Seconds == nil {
			return false
		}
		first = *s[1].Lag.Bytes
		return first > 0 && *s[0].Lag.Bytes < first && *l.Bytes == first && *l.Seconds == *s[1].Lag.Seconds
	})
	s := st.Pgvecrep.Streams
	if s[0].State != "streaming" || s[1].State != "disabled" || s[1].Health == nil || !s[1].Health.Stalled || s[1].Health.Enabled ||
		s[0].Health == nil || s[0].Health.Stalled {
		t.Errorf("stream states: %+v", s)
	}
	if h := st.Pgvecrep.Health; st.Pgvecrep.Phase != "stalled" || h == nil || !h.Stalled || !strings.Contains(h.Reason, "apply stream "+p1+": ") {
		t.Errorf("the group with stream 1 disabled reads %s, health %+v", st.Pgvecrep.Phase, h)
	}

	// The lag grows by at least what the source writes: stream 1's slot
	// stands still while no subscription reads it.
	before := src.QueryInt(t, "SELECT (pg_current_wal_lsn() - '0/0')::bigint")
	src.Exec(t, `INSERT INTO items SELECT i, '[7,8,9]' FROM generate_series(251, 450) i`)
	written := src.QueryInt(t, "SELECT (pg_current_wal_lsn() - '0/0')::bigint") - before
	st = readStreams(t, src, tgt, "ps")
	if s := st.Pgvecrep.Streams; len(s) != 2 || s[1].Lag.Bytes == nil || *s[1].Lag.Bytes < first+written ||
		st.Pgvecrep.Lag.Bytes == nil || *st.Pgvecrep.Lag.Bytes != *s[1].Lag.Bytes {
		t.Errorf("after %d more bytes of WAL stream 1's lag is %v (was %d), the group's %v", written, s, first, st.Pgvecrep.Lag.Bytes)
	}
	grown := first + written
	t.Logf("stream 1 behind by %d bytes, then by %d after %d more bytes of WAL; stream 0 by %d; the group by %d",
		first, *st.Pgvecrep.Streams[1].Lag.Bytes, written, *st.Pgvecrep.Streams[0].Lag.Bytes, *st.Pgvecrep.Lag.Bytes)

	url := exporter(t, src, tgt, "ps")
	var got map[string]float64
	scrapeUntil(t, url, "both streams' series, the group's lag stream 1's", func(body string) bool {
		got = samples(body)
		lag := func(stream string) float64 {
			return got[`pgvecrep_stream_lag_bytes{group="ps",stream="`+stream+`"}`]
		}
		want := map[string]float64{
			`pgvecrep_stream_stalled{group="ps",stream="pgvecrep_ps"}`: 0, `pgvecrep_stream_up{group="ps",stream="pgvecrep_ps"}`: 1,
			`pgvecrep_stream_stalled{group="ps",stream="` + p1 + `"}`: 1, `pgvecrep_stream_up{group="ps",stream="` + p1 + `"}`: 0,
			`pgvecrep_stalled{group="ps"}`: 1, `pgvecrep_lag_bytes{group="ps"}`: lag(p1),
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				return false
			}
		}
		for _, k := range []string{`pgvecrep_stream_lag_bytes{group="ps",stream="pgvecrep_ps"}`,
			`pgvecrep_stream_lag_seconds{group="ps",stream="pgvecrep_ps"}`, `pgvecrep_stream_lag_seconds{group="ps",stream="` + p1 + `"}`} {
			if _, there := got[k]; !there {
				return false
			}
		}
		return lag(p1) >= float64(grown) && lag("pgvecrep_ps") < lag(p1)
	})

	t.Logf("exporter: stream lag %v bytes (stream 1), %v (stream 0), group %v", got[`pgvecrep_stream_lag_bytes{group="ps",stream="`+p1+`"}`],
		got[`pgvecrep_stream_lag_bytes{group="ps",stream="pgvecrep_ps"}`], got[`pgvecrep_lag_bytes{group="ps"}`])

	dropStream(t, src, tgt, p1)
	mustRun(t, src, tgt, "cleanup", "-g", "ps")
	pgtest.AssertNoReplication(t, src, tgt)
}
