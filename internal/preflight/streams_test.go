package preflight

import (
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// TestCapacityStreams puts the capacity checks at their limits for one, two
// and four apply streams: exactly enough is OK, one short is an error whose
// hint names a value that is enough. The details and hints are compared
// whole: with one stream they must read as they did before streams were
// counted.
func TestCapacityStreams(t *testing.T) {
	// capacity is facts with room for 10 slots and 10 WAL senders on the
	// source and 16 logical replication workers of 20 processes on the
	// target.
	capacity := func(mod func(f *pg.Facts)) pg.Facts {
		return facts(func(f *pg.Facts) {
			f.MaxLogicalWorkers, f.MaxWorkerProcesses = 16, 20
			if mod != nil {
				mod(f)
			}
		})
	}
	slots := func(used int) pg.Facts { return capacity(func(f *pg.Facts) { f.UsedReplSlots = used }) }
	senders := func(used int) pg.Facts { return capacity(func(f *pg.Facts) { f.UsedWALSenders = used }) }
	noSync := capacity(func(f *pg.Facts) { f.MaxSyncWorkers = 0 })
	processes := func(logical, processes int) pg.Facts {
		return capacity(func(f *pg.Facts) { f.MaxLogicalWorkers, f.MaxWorkerProcesses = logical, processes })
	}
	const (
		slotsHint   = "drop unused slots (SELECT slot_name FROM pg_replication_slots WHERE NOT active) or ALTER SYSTEM SET max_replication_slots = 11 on the source and restart it"
		sendersHint = "ALTER SYSTEM SET max_wal_senders = 12 on the source and restart it"
	)
	tests := []struct {
		name                 string
		got                  Finding
		status, detail, hint string
	}{
		// Source: n streams need n slots; one short asks for max+1.
		{"1 stream, last slot", slotsFinding(slots(9), 1), StatusOK,
			"1 of 10 replication slots free on the source", ""},
		{"1 stream, no slot", slotsFinding(slots(10), 1), StatusError,
			"no free replication slot on the source (10 of max_replication_slots=10 in use)", slotsHint},
		{"2 streams, 2 slots", slotsFinding(slots(8), 2), StatusOK,
			"2 of 10 replication slots free on the source; 2 apply streams: 2 replication slots", ""},
		{"2 streams, 1 slot", slotsFinding(slots(9), 2), StatusError,
			"only 1 replication slot free on the source (9 of max_replication_slots=10 in use); 2 apply streams: 2 replication slots", slotsHint},
		{"4 streams, 4 slots", slotsFinding(slots(6), 4), StatusOK,
			"4 of 10 replication slots free on the source; 4 apply streams: 4 replication slots", ""},
		{"4 streams, 3 slots", slotsFinding(slots(7), 4), StatusError,
			"only 3 replication slots free on the source (7 of max_replication_slots=10 in use); 4 apply streams: 4 replication slots", slotsHint},
		{"4 streams, slots over the limit", slotsFinding(slots(12), 4), StatusError,
			"only 0 replication slots free on the source (12 of max_replication_slots=10 in use); 4 apply streams: 4 replication slots",
			"drop unused slots (SELECT slot_name FROM pg_replication_slots WHERE NOT active) or ALTER SYSTEM SET max_replication_slots = 16 on the source and restart it"},

		// WAL senders: n, and the hint one more for the slot's own connection.
		{"1 stream, last sender", sendersFinding(senders(9), 1), StatusOK,
			"1 of 10 WAL senders free on the source", ""},
		{"1 stream, no sender", sendersFinding(senders(10), 1), StatusError,
			"no free WAL sender on the source (10 of max_wal_senders=10 in use)", sendersHint},
		{"2 streams, 2 senders", sendersFinding(senders(8), 2), StatusOK,
			"2 of 10 WAL senders free on the source; 2 apply streams: 2 WAL senders", ""},
		{"2 streams, 1 sender", sendersFinding(senders(9), 2), StatusError,
			"only 1 WAL sender free on the source (9 of max_wal_senders=10 in use); 2 apply streams: 2 WAL senders", sendersHint},
		{"4 streams, 4 senders", sendersFinding(senders(6), 4), StatusOK,
			"4 of 10 WAL senders free on the source; 4 apply streams: 4 WAL senders", ""},
		{"4 streams, 3 senders", sendersFinding(senders(7), 4), StatusError,
			"only 3 WAL senders free on the source (7 of max_wal_senders=10 in use); 4 apply streams: 4 WAL senders", sendersHint},

		// Target workers without sync workers: n apply workers exactly.
		{"1 stream, last worker", workersFinding(noSync, 15, 1), StatusOK,
			"1 of 16 logical replication workers free on the target", ""},
		{"1 stream, no worker", workersFinding(noSync, 16, 1), StatusError,
			"no free logical replication worker on the target (16 of max_logical_replication_workers=16 in use)",
			"ALTER SYSTEM SET max_logical_replication_workers = 17 on the target and restart it"},
		{"2 streams, 2 workers", workersFinding(noSync, 14, 2), StatusOK,
			"2 of 16 logical replication workers free on the target; 2 apply streams: 2 logical replication workers", ""},
		{"2 streams, 1 worker", workersFinding(noSync, 15, 2), StatusError,
			"only 1 logical replication worker free on the target (15 of max_logical_replication_workers=16 in use); 2 apply streams: 2 logical replication workers",
			"ALTER SYSTEM SET max_logical_replication_workers = 17 on the target and restart it"},
		{"4 streams, 4 workers", workersFinding(noSync, 12, 4), StatusOK,
			"4 of 16 logical replication workers free on the target; 4 apply streams: 4 logical replication workers", ""},
		{"4 streams, 3 workers", workersFinding(noSync, 13, 4), StatusError,
			"only 3 logical replication workers free on the target (13 of max_logical_replication_workers=16 in use); 4 apply streams: 4 logical replication workers",
			"ALTER SYSTEM SET max_logical_replication_workers = 17 on the target and restart it"},

		// With max_sync_workers_per_subscription=2 the native copy wants 3
		// per stream: all of them is OK, one short a warning.
		{"1 stream, native copy fits", workersFinding(capacity(nil), 13, 1), StatusOK,
			"3 of 16 logical replication workers free on the target", ""},
		{"1 stream, native copy one short", workersFinding(capacity(nil), 14, 1), StatusWarn,
			"2 logical replication workers free on the target; --copy-mode native uses up to 3 (1 apply + max_sync_workers_per_subscription=2)",
			"ALTER SYSTEM SET max_logical_replication_workers = 17 on the target and restart it"},
		{"4 streams, native copy fits", workersFinding(capacity(nil), 4, 4), StatusOK,
			"12 of 16 logical replication workers free on the target; 4 apply streams: 4 logical replication workers", ""},
		{"4 streams, native copy one short", workersFinding(capacity(nil), 5, 4), StatusWarn,
			"11 logical replication workers free on the target; 4 apply streams: 4 apply workers, and --copy-mode native uses up to 12 (4 subscriptions, each 1 apply + max_sync_workers_per_subscription=2)",
			"ALTER SYSTEM SET max_logical_replication_workers = 17 on the target and restart it"},
		{"4 streams, apply one short", workersFinding(capacity(nil), 13, 4), StatusError,
			"only 3 logical replication workers free on the target (13 of max_logical_replication_workers=16 in use); 4 apply streams: 4 logical replication workers",
			"ALTER SYSTEM SET max_logical_replication_workers = 25 on the target and restart it"},

		// max_worker_processes: the launcher and n apply workers at least;
		// the hint adds max_parallel_maintenance_workers=2.
		{"1 stream, launcher and worker", processesFinding(processes(1, 2), 1), StatusOK,
			"target max_worker_processes=2 covers max_logical_replication_workers=1 plus the launcher", ""},
		{"1 stream, launcher only", processesFinding(processes(1, 1), 1), StatusError,
			"target max_worker_processes=1 leaves no room for the replication launcher and an apply worker",
			"ALTER SYSTEM SET max_worker_processes = 4 on the target and restart it"},
		{"1 stream, below the logical workers", processesFinding(processes(4, 4), 1), StatusWarn,
			"target max_worker_processes=4 is below max_logical_replication_workers+1=5; workers may fail to start",
			"ALTER SYSTEM SET max_worker_processes = 7 on the target and restart it"},
		{"2 streams, launcher and 2 workers", processesFinding(processes(2, 3), 2), StatusOK,
			"target max_worker_processes=3 covers max_logical_replication_workers=2 plus the launcher (2 apply streams: 2 apply workers)", ""},
		{"2 streams, one short", processesFinding(processes(2, 2), 2), StatusError,
			"target max_worker_processes=2 leaves no room for the replication launcher and 2 apply workers, one per apply stream",
			"ALTER SYSTEM SET max_worker_processes = 5 on the target and restart it"},
		{"4 streams, launcher and 4 workers", processesFinding(processes(4, 5), 4), StatusOK,
			"target max_worker_processes=5 covers max_logical_replication_workers=4 plus the launcher (4 apply streams: 4 apply workers)", ""},
		{"4 streams, one short", processesFinding(processes(4, 4), 4), StatusError,
			"target max_worker_processes=4 leaves no room for the replication launcher and 4 apply workers, one per apply stream",
			"ALTER SYSTEM SET max_worker_processes = 7 on the target and restart it"},
		{"4 streams, fewer logical workers than streams", processesFinding(processes(2, 4), 4), StatusError,
			"target max_worker_processes=4 leaves no room for the replication launcher and 4 apply workers, one per apply stream",
			"ALTER SYSTEM SET max_worker_processes = 7 on the target and restart it"},
		{"4 streams, below the logical workers", processesFinding(processes(8, 6), 4), StatusWarn,
			"target max_worker_processes=6 is below max_logical_replication_workers+1=9; workers may fail to start (4 apply streams: 4 apply workers)",
			"ALTER SYSTEM SET max_worker_processes = 11 on the target and restart it"},

		// --apply-workers itself.
		{"16 streams", applyWorkersFinding(16), StatusOK,
			"16 apply streams: the tables with a vector index are spread across 16 subscriptions by a hash of their key, each stream a slot and a WAL sender on the source and an apply worker on the target", ""},
		{"17 streams", applyWorkersFinding(17), StatusError,
			"--apply-workers 17 is above the maximum of 16 apply streams",
			"use --apply-workers 16 or fewer, at most the target's CPU cores: each stream is a publication, slot and subscription of its own and a WAL sender decoding the whole WAL on the source, and more apply workers than cores do not apply faster"},
	}
	for _, tt := range tests {
		f := tt.got
		if f.Status != tt.status || f.Detail != tt.detail || f.Hint != tt.hint {
			t.Errorf("%s:\n got  %s %q\n      hint %q\n want %s %q\n      hint %q", tt.name, f.Status, f.Detail, f.Hint, tt.status, tt.detail, tt.hint)
		}
	}
}
