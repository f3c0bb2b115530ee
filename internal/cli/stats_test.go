package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// statsJSON is the part of stats' JSON these tests read.
type statsJSON struct {
	ReplicationStats []struct {
		TableSchema      string `json:"table_schema"`
		TableName        string `json:"table_name"`
		ReplicationState string `json:"replication_state"`
	} `json:"replication_stats"`
	CountByState          map[string]int   `json:"replication_stats_count_by_state"`
	ReplicationSlots      []map[string]any `json:"replication_slots"`
	LagStats              []map[string]any `json:"lag_stats"`
	MessageLSNReceipts    []map[string]any `json:"message_lsn_receipts"`
	SyncStartedAt         *string          `json:"sync_started_at"`
	SwitchoverCompletedAt *string          `json:"switchover_completed_at"`
	Pgvecrep              struct {
		Phase       string
		SnapshotLSN string `json:"snapshot_lsn"`
		Tables      []struct {
			Table, State   string
			CopyStartedAt  *time.Time `json:"copy_started_at"`
			CopyFinishedAt *time.Time `json:"copy_finished_at"`
		}
		Lag struct {
			SourceProblem string `json:"source_problem"`
		}
	}
}

func readStats(t *testing.T, src, tgt pgtest.DB, args ...string) statsJSON {
	t.Helper()
	r := mustRun(t, src, tgt, append([]string{"stats"}, args...)...)
	var st statsJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stats output is not JSON: %v\n%s", err, r.stdout)
	}
	return st
}

// TestStatsTellsTheTruth: pg_easy_replicate's keys while streaming, tables
// labelled stopped after stop_sync, a missing source URL reported as not
// configured, and an unknown group answered with the groups there are.
func TestStatsTellsTheTruth(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streamItems(t, src, tgt, "truth")

	st := readStats(t, src, tgt, "-g", "truth")
	if len(st.ReplicationStats) != 1 || st.ReplicationStats[0].TableName != "items" || st.ReplicationStats[0].TableSchema != "public" ||
		st.ReplicationStats[0].ReplicationState != "replicating" || st.CountByState["replicating"] != 1 {
		t.Errorf("replication_stats = %+v, count %v", st.ReplicationStats, st.CountByState)
	}
	if len(st.ReplicationSlots) != 1 || st.ReplicationSlots[0]["slot_name"] != "pgvecrep_truth" || len(st.MessageLSNReceipts) != 1 {
		t.Errorf("replication_slots = %v, message_lsn_receipts = %v", st.ReplicationSlots, st.MessageLSNReceipts)
	}
	if st.SyncStartedAt == nil || st.SwitchoverCompletedAt != nil {
		t.Errorf("sync_started_at = %v, switchover_completed_at = %v", st.SyncStartedAt, st.SwitchoverCompletedAt)
	}
	if !regexp.MustCompile(`^[0-9A-F]+/[0-9A-F]+$`).MatchString(st.Pgvecrep.SnapshotLSN) {
		t.Errorf("snapshot_lsn = %q, want the LSN streaming started at", st.Pgvecrep.SnapshotLSN)
	}
	if ts := st.Pgvecrep.Tables; len(ts) != 1 || ts[0].CopyStartedAt == nil || ts[0].CopyFinishedAt == nil || ts[0].CopyFinishedAt.Before(*ts[0].CopyStartedAt) {
		t.Errorf("copy times of items = %+v, want a start and a finish after it", ts)
	}

	mustRun(t, src, tgt, "stop_sync", "-g", "truth")
	st = readStats(t, src, tgt, "-g", "truth")
	if st.Pgvecrep.Phase != "stopped" || len(st.Pgvecrep.Tables) != 1 || st.Pgvecrep.Tables[0].State != "stopped" {
		t.Errorf("after stop_sync: %+v", st.Pgvecrep)
	}
	st = readStats(t, pgtest.DB{}, tgt, "-g", "truth")
	if !strings.HasPrefix(st.Pgvecrep.Lag.SourceProblem, "not configured") {
		t.Errorf("no source URL reported as %q", st.Pgvecrep.Lag.SourceProblem)
	}

	r := pgvecrep(t, src, tgt, "stats", "-g", "trut")
	assertUserError(t, r, `group "trut"`, "did you mean -g truth?")
	mustRun(t, src, tgt, "cleanup", "-g", "truth")
}
