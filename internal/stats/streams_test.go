package stats

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// streamReading is a reading of a stream whose target has committed up to
// committed of a source at current, with its slot at confirmed and
// restart, and an apply worker running.
func streamReading(at time.Time, current, committed, restart replication.LSN) replication.Progress {
	return replication.Progress{At: at, SourceKnown: true, Slot: true, Current: current, Confirmed: committed, Restart: restart,
		Subscription: true, Worker: true, Received: committed}
}

// TestGroupLagIsTheSlowestStream: whichever stream is furthest behind,
// the group's lag (bytes, seconds, catch-up) is that stream's, and only it
// is marked slowest (none is while all are caught up); the confirmed
// position is the earliest any slot confirmed and the WAL held the most
// any slot holds; a stream without a slot on a reachable source makes the
// group's lag unknown; a single stream's lag is the group's, unmarked.
func TestGroupLagIsTheSlowestStream(t *testing.T) {
	t0 := time.Now()
	type stream struct{ committed, restart replication.LSN }
	for _, tc := range []struct {
		name      string
		streams   []stream
		noSlot    int   // 1-based index of a stream without a slot; 0 none
		slowest   int   // the stream whose lag is the group's
		marked    bool  // and it is marked slowest
		pending   int64 // the group's lag in bytes; -1 unknown
		confirmed string
		held      int64
	}{
		{"one stream", []stream{{0x9000, 0x8000}}, 0, 0, false, 0x1000, "0/9000", 0xA000 - 0x8000},
		{"stream 1 behind", []stream{{0xA000, 0x9000}, {0x4000, 0x3000}}, 0, 1, true, 0x6000, "0/4000", 0xA000 - 0x3000},
		{"stream 0 behind", []stream{{0x2000, 0x1000}, {0x9000, 0x8000}, {0x5000, 0x800}}, 0, 0, true, 0x8000, "0/2000", 0xA000 - 0x800},
		{"all caught up", []stream{{0xA000, 0x9000}, {0xA000, 0x9000}}, 0, 0, false, 0, "0/A000", 0x1000},
		{"a slot missing", []stream{{0xA000, 0x9000}, {0x4000, 0x3000}, {0x8000, 0x7000}}, 3, 2, true, -1, "0/4000", 0xA000 - 0x3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Report{Phase: group.Streaming}
			var ps []replication.Progress
			for i, s := range tc.streams {
				r.Streams = append(r.Streams, StreamStat{Name: group.StreamName("pgvecrep_g", i)})
				var c replication.Catchup
				c.Add(streamReading(t0, 0x9000, s.committed, s.restart))
				p := streamReading(t0.Add(2*time.Second), 0xA000, s.committed, s.restart)
				if i+1 == tc.noSlot {
					p.Slot = false
				}
				ps = append(ps, p)
				r.Streams[i].Lag.fill(p, c.Add(p))
			}
			r.groupLag(ps)
			l, want := r.Lag, r.Streams[tc.slowest].Lag
			switch {
			case tc.pending < 0 && l.Bytes != nil:
				t.Errorf("the group's lag is %d bytes with a stream's slot missing, want unknown", *l.Bytes)
			case tc.pending >= 0 && (l.Bytes == nil || *l.Bytes != tc.pending || *l.Bytes != *want.Bytes ||
				l.Seconds == nil || *l.Seconds != *want.Seconds || l.CommittedLSN != want.CommittedLSN || l.CatchUpText() != want.CatchUpText()):
				t.Errorf("the group's lag %+v is not stream %d's %+v (want %d bytes)", l, tc.slowest, want, tc.pending)
			}
			for i, s := range r.Streams {
				if s.slowest != (tc.marked && i == tc.slowest) {
					t.Errorf("stream %d marked slowest: %v", i, s.slowest)
				}
			}
			if l.ConfirmedLSN != tc.confirmed || l.SlotWALBytes == nil || *l.SlotWALBytes != tc.held {
				t.Errorf("confirmed %s, WAL held %v; want %s and %d", l.ConfirmedLSN, l.SlotWALBytes, tc.confirmed, tc.held)
			}
		})
	}
}

// TestMergeHealth: a single stream's health is the group's, untouched;
// with more, the group is stalled, disabled or without a worker when any
// stream is, the reason names the first stalled stream, the error counts
// are summed, and an absent stream counts for nothing.
func TestMergeHealth(t *testing.T) {
	ok := replication.Health{Exists: true, Enabled: true, Worker: true, ApplyErrors: 1}
	disabled := replication.Health{Exists: true, Stalled: true, Reason: "the subscription is disabled", ApplyErrors: 2, SyncErrors: 1}
	failing := replication.Health{Exists: true, Enabled: true, Stalled: true, Reason: "keeps failing", ApplyErrors: 5}
	streams := []StreamStat{{Name: "pgvecrep_g"}, {Name: "pgvecrep_g_p1"}, {Name: "pgvecrep_g_p2"}}
	for _, tc := range []struct {
		name string
		hs   []replication.Health
		want replication.Health
	}{
		{"one stream", []replication.Health{failing}, failing},
		{"all fine", []replication.Health{ok, ok, ok}, replication.Health{Exists: true, Enabled: true, Worker: true, ApplyErrors: 3}},
		{"stream 1 disabled, stream 2 failing", []replication.Health{ok, disabled, failing},
			replication.Health{Exists: true, Stalled: true, Reason: "apply stream pgvecrep_g_p1: the subscription is disabled", ApplyErrors: 8, SyncErrors: 1}},
		{"stream 0 failing", []replication.Health{failing, ok, ok},
			replication.Health{Exists: true, Enabled: true, Stalled: true, Reason: "apply stream pgvecrep_g: keeps failing", ApplyErrors: 7}},
		{"stream 2 absent", []replication.Health{ok, ok, {}}, replication.Health{Exists: true, Enabled: true, Worker: true, ApplyErrors: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeHealth(streams[:len(tc.hs)], tc.hs); got != tc.want {
				t.Errorf("mergeHealth = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestStreamLines: a group of one stream prints no stream line and its
// JSON lists that one stream; a group of three prints one line per stream
// (its lag, state and errors, the slowest marked) right under the lag line.
func TestStreamLines(t *testing.T) {
	zero, behind, secs := int64(0), int64(3<<20), 4.5
	one := Report{Group: "g", Phase: group.Streaming, Lag: Lag{SourceReachable: true, Bytes: &zero, Subscription: true},
		Streams: []StreamStat{{Name: "pgvecrep_g", State: StreamStreaming, Lag: Lag{SourceReachable: true, Bytes: &zero, Subscription: true}}}}
	var out bytes.Buffer
	one.WriteText(&out)
	if strings.Contains(out.String(), "stream ") {
		t.Errorf("a single stream has a line of its own:\n%s", out.String())
	}
	out.Reset()
	if err := one.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pgvecrep struct {
			Streams []struct {
				Name, State string
				Lag         struct{ Bytes *int64 }
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if s := doc.Pgvecrep.Streams; len(s) != 1 || s[0].Name != "pgvecrep_g" || s[0].State != "streaming" || s[0].Lag.Bytes == nil || *s[0].Lag.Bytes != 0 {
		t.Errorf("streams in the JSON: %+v\n%s", s, out.String())
	}

	three := one
	three.Lag = Lag{SourceReachable: true, Bytes: &behind, Seconds: &secs}
	three.Streams = []StreamStat{one.Streams[0],
		{Name: "pgvecrep_g_p1", State: StreamDisabled, Lag: three.Lag, slowest: true,
			Health: &replication.Health{Exists: true, Stalled: true, ApplyErrors: 2}},
		{Name: "pgvecrep_g_p2", State: StreamNoWorker, Lag: Lag{SourceReachable: true}}}
	out.Reset()
	three.WriteText(&out)
	want := "lag: 3.0 MiB, 4.5 s, subscription not running\n" +
		"  stream pgvecrep_g: 0 B, streaming\n" +
		"  stream pgvecrep_g_p1: 3.0 MiB, 4.5 s, disabled, 2 apply and 0 sync errors so far (slowest)\n" +
		"  stream pgvecrep_g_p2: no replication slot on the source, no worker\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("the report lacks\n%s\nin\n%s", want, out.String())
	}

	// While the group copies, each stream's slot holds WAL, as the lag
	// line says for the group.
	held := int64(5 << 20)
	three.Phase = group.Copying
	three.Lag.SlotWALBytes = &held
	three.Streams[0].Lag.SlotWALBytes, three.Streams[0].State = &held, StreamAbsent
	out.Reset()
	three.WriteText(&out)
	if want := "lag: WAL held by the slot: 5.0 MiB; streaming starts after the copy and the index build\n" +
		"  stream pgvecrep_g: WAL held by the slot: 5.0 MiB, absent\n"; !strings.Contains(out.String(), want) {
		t.Errorf("the report lacks\n%s\nin\n%s", want, out.String())
	}
}
