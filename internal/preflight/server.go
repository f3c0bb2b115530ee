package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// databases refuses to replicate a database into itself. Two databases of
// one cluster are fine: pgvecrep creates the slot itself, so CREATE
// SUBSCRIPTION never waits on its own server.
func (c *checker) databases(context.Context) {
	c.add(databasesFinding(c.sf, c.tf))
	c.add(versionsFinding(c.sf, c.tf))
}

// versionsFinding names the version pair. Logical replication works across
// major versions in both directions, so no pair is an error: a newer target
// is the upgrade path, and what the newer target offers is listed because
// start_sync uses it. An older target is a downgrade, which works for plain
// tables but has risks a user must hear about before the switchover.
func versionsFinding(s, t pg.Facts) Finding {
	f := Finding{Check: "versions", Status: StatusOK}
	sv, tv := s.Major(), t.Major()
	switch {
	case sv == tv:
		f.Detail = fmt.Sprintf("source and target are both PostgreSQL %d", sv)
	case sv < tv:
		f.Detail = fmt.Sprintf("upgrade path: PostgreSQL %d -> %d", sv, tv)
		if uses := NewerTargetFeatures(s, t); len(uses) > 0 {
			f.Detail += "; start_sync uses the target's " + strings.Join(uses, ", ")
		}
	default:
		f.Status = StatusWarn
		f.Detail = fmt.Sprintf("downgrade: the target runs PostgreSQL %d, older than the source's %d. Risks: %s",
			tv, sv, strings.Join(downgradeRisks(s, t), "; "))
		f.Hint = fmt.Sprintf("replicate into a PostgreSQL %d or newer target; if the downgrade is intended, create the schema on the target by hand (not --copy-schema), run pgvecrep verify before the switchover, and keep the source until the target has served traffic", sv)
	}
	return f
}

// NewerTargetFeatures lists what start_sync takes from a PostgreSQL 16+
// target (and a 17+ source), in the words the output uses; empty for two
// PostgreSQL 15 servers. It is exported so that start_sync and the demo say
// the same thing config_check does.
func NewerTargetFeatures(s, t pg.Facts) []string {
	var out []string
	if t.Major() >= 16 {
		binary := "binary = true in --copy-mode native (initial copy and changes in binary)"
		if s.Major() < 16 {
			binary = fmt.Sprintf("binary = true in --copy-mode native (changes in binary; a PostgreSQL %d source still serves the initial copy in text)", s.Major())
		}
		out = append(out, binary,
			"pg_create_subscription membership instead of superuser",
			"run_as_owner = false (changes applied with each table owner's rights)")
	}
	if s.Major() >= 17 {
		out = append(out, "failover-ready slot on the source (PostgreSQL 17+)")
	}
	return out
}

// downgradeRisks are the specific ways a newer source into an older target
// goes wrong, for the versions at hand.
func downgradeRisks(s, t pg.Facts) []string {
	sv, tv := s.Major(), t.Major()
	risks := []string{
		fmt.Sprintf("pg_dump must be %d or newer for the source and writes SQL for PostgreSQL %d, which the older target may reject, so bootstrap --copy-schema can fail", sv, sv),
		fmt.Sprintf("objects that need PostgreSQL %d (new types, functions, collations or column features) cannot be created on the target, and rows that use them cannot be applied", sv),
		"extensions on the target may be older than the source's, which forces the text copy (see the extensions check)",
	}
	if sv >= 17 && tv < 17 {
		risks = append(risks, fmt.Sprintf("pg_dump %d sets transaction_timeout, which PostgreSQL %d does not know", sv, tv))
	}
	if sv >= 18 {
		risks = append(risks, "virtual generated columns (PostgreSQL 18) do not exist on the target")
	}
	return risks
}

func databasesFinding(s, t pg.Facts) Finding {
	f := Finding{Check: "databases", Status: StatusOK}
	switch {
	case s.SystemID == t.SystemID && s.Database == t.Database:
		f.Status = StatusError
		f.Detail = fmt.Sprintf("source and target are the same database (%s on system %s)", pg.QuoteIfNeeded(s.Database), s.SystemID)
		f.Hint = "point TARGET_DB_URL (or --target-url) at the database to replicate into"
	case s.SystemID == t.SystemID:
		f.Detail = fmt.Sprintf("source %s and target %s are databases of the same cluster", pg.QuoteIfNeeded(s.Database), pg.QuoteIfNeeded(t.Database))
	default:
		f.Detail = fmt.Sprintf("source %s (PostgreSQL %s), target %s (PostgreSQL %s)",
			pg.QuoteIfNeeded(s.Database), shortVersion(s.Version), pg.QuoteIfNeeded(t.Database), shortVersion(t.Version))
	}
	return f
}

// walLevel: logical decoding needs wal_level=logical on the source.
func (c *checker) walLevel(context.Context) { c.add(walLevelFinding(c.sf)) }

func walLevelFinding(s pg.Facts) Finding {
	if s.WALLevel == "logical" {
		return Finding{Check: "wal_level", Status: StatusOK, Detail: "source wal_level is logical"}
	}
	return Finding{Check: "wal_level", Status: StatusError,
		Detail: fmt.Sprintf("source wal_level is %s, logical replication needs logical", s.WALLevel),
		Hint:   "run ALTER SYSTEM SET wal_level = logical on the source, then restart it (managed services: enable logical replication in the parameter group)"}
}

// MaxApplyStreams is the most apply streams a group may have
// (--apply-workers). Each stream is a publication, a slot and a
// subscription of its own, named after the group with a _p<k> suffix, and a
// WAL sender on the source that decodes the whole WAL; past the target's
// cores more apply workers wait for a CPU instead of applying faster, while
// the source pays for every sender.
const MaxApplyStreams = 16

// streams is how many apply streams the checks count: Options.ApplyStreams,
// at least one.
func (c *checker) streams() int { return max(c.o.ApplyStreams, 1) }

// applyWorkers checks --apply-workers itself. One stream (the default) is
// the engine's single apply worker and needs no finding of its own.
func (c *checker) applyWorkers(context.Context) {
	if n := c.streams(); n > 1 {
		c.add(applyWorkersFinding(n))
	}
}

func applyWorkersFinding(n int) Finding {
	if n > MaxApplyStreams {
		return Finding{Check: "apply_workers", Status: StatusError,
			Detail: fmt.Sprintf("--apply-workers %d is above the maximum of %d apply streams", n, MaxApplyStreams),
			Hint: fmt.Sprintf("use --apply-workers %d or fewer, at most the target's CPU cores: each stream is a publication, slot and subscription of its own and a WAL sender decoding the whole WAL on the source, and more apply workers than cores do not apply faster",
				MaxApplyStreams)}
	}
	return Finding{Check: "apply_workers", Status: StatusOK,
		Detail: fmt.Sprintf("%d apply streams: the tables with a vector index are spread across %d subscriptions by a hash of their key, each stream a slot and a WAL sender on the source and an apply worker on the target", n, n)}
}

// sourceCapacity: each apply stream needs one replication slot and one WAL
// sender on the source.
func (c *checker) sourceCapacity(context.Context) {
	n := c.streams()
	c.add(slotsFinding(c.sf, n))
	c.add(sendersFinding(c.sf, n))
}

func slotsFinding(s pg.Facts, n int) Finding {
	return limit{check: "replication_slots", side: "source", unit: "replication slot", setting: "max_replication_slots",
		used: s.UsedReplSlots, max: s.MaxReplSlots, need: n,
		hint: fmt.Sprintf("drop unused slots (SELECT slot_name FROM pg_replication_slots WHERE NOT active) or ALTER SYSTEM SET max_replication_slots = %d on the source and restart it", s.UsedReplSlots+n),
	}.finding()
}

// sendersFinding asks for one WAL sender per stream, and its hint for one
// more than that: the slot is created on a replication connection of its
// own, a WAL sender too while it holds the fast copy's snapshot.
func sendersFinding(s pg.Facts, n int) Finding {
	return limit{check: "wal_senders", side: "source", unit: "WAL sender", setting: "max_wal_senders",
		used: s.UsedWALSenders, max: s.MaxWALSenders, need: n,
		hint: fmt.Sprintf("ALTER SYSTEM SET max_wal_senders = %d on the source and restart it", s.UsedWALSenders+n+1),
	}.finding()
}

// limit is a server setting that caps how many of a unit (slot, WAL sender,
// worker) exist, of which the sync needs one free per apply stream: the
// slot, sender and worker checks report it the same way.
type limit struct {
	check, side, unit, setting, hint string
	used, max                        int
	// need is how many units must be free: the apply streams (0 is 1).
	need int
}

// finding is OK while need units are free, and an error with l's hint when
// fewer are. With more than one stream the detail says how many the
// streams need; with one it reads as it always has.
func (l limit) finding() Finding {
	need, free := max(l.need, 1), l.max-l.used
	f := Finding{Check: l.check, Status: StatusOK,
		Detail: fmt.Sprintf("%d of %d %ss free on the %s", max(free, 0), l.max, l.unit, l.side)}
	if need > 1 {
		f.Detail += "; " + l.needs(need)
	}
	switch {
	case free >= need:
		return f
	case need == 1:
		f.Detail = fmt.Sprintf("no free %s on the %s (%d of %s=%d in use)", l.unit, l.side, l.used, l.setting, l.max)
	default:
		f.Detail = fmt.Sprintf("only %d %s free on the %s (%d of %s=%d in use); %s",
			max(free, 0), l.units(free), l.side, l.used, l.setting, l.max, l.needs(need))
	}
	f.Status = StatusError
	f.Hint = l.hint
	return f
}

// units is l's unit, plural unless n is 1.
func (l limit) units(n int) string {
	if n == 1 {
		return l.unit
	}
	return l.unit + "s"
}

// needs says why n units are needed, e.g. "4 apply streams: 4 replication
// slots".
func (l limit) needs(n int) string {
	return fmt.Sprintf("%d apply streams: %d %ss", n, n, l.unit)
}

const usedWorkersQuery = `SELECT count(*)::int FROM pg_stat_subscription WHERE pid IS NOT NULL`

// targetCapacity: each stream's subscription needs an apply worker on the
// target (plus table sync workers in the native copy mode), all from
// max_worker_processes.
func (c *checker) targetCapacity(ctx context.Context) {
	var used int
	if err := c.tgt.QueryRow(ctx, usedWorkersQuery).Scan(&used); err != nil {
		c.broken("target_workers", fmt.Errorf("count logical replication workers on the target: %w", err))
		return
	}
	n := c.streams()
	c.add(workersFinding(c.tf, used, n))
	c.add(processesFinding(c.tf, n))
}

// workersFinding is an error when fewer logical replication workers are
// free than the n streams' apply workers, and a warning when the native
// copy's table sync workers (up to max_sync_workers_per_subscription per
// subscription) would have to wait for one another.
func workersFinding(t pg.Facts, used, n int) Finding {
	free := t.MaxLogicalWorkers - used
	want := n * (1 + t.MaxSyncWorkers)
	hint := fmt.Sprintf("ALTER SYSTEM SET max_logical_replication_workers = %d on the target and restart it", used+want)
	f := limit{check: "target_workers", side: "target", unit: "logical replication worker", setting: "max_logical_replication_workers",
		used: used, max: t.MaxLogicalWorkers, need: n, hint: hint}.finding()
	if free >= n && free < want {
		f.Status = StatusWarn
		f.Detail = fmt.Sprintf("%d logical replication workers free on the target; --copy-mode native uses up to %d (1 apply + max_sync_workers_per_subscription=%d)",
			free, want, t.MaxSyncWorkers)
		if n > 1 {
			f.Detail = fmt.Sprintf("%d logical replication workers free on the target; %d apply streams: %d apply workers, and --copy-mode native uses up to %d (%d subscriptions, each 1 apply + max_sync_workers_per_subscription=%d)",
				free, n, n, want, n, t.MaxSyncWorkers)
		}
		f.Hint = hint
	}
	return f
}

// processesFinding: max_worker_processes must hold the launcher and the
// logical replication workers. It is an error when it cannot hold the
// launcher and the n streams' apply workers, a warning when it cannot hold
// all of max_logical_replication_workers; the hint leaves room for the
// index builds' parallel maintenance workers too.
func processesFinding(t pg.Facts, n int) Finding {
	workers := t.MaxLogicalWorkers
	if n > 1 {
		// The target_workers finding asks for n workers at least. (One
		// stream keeps the hint it always had.)
		workers = max(workers, n)
	}
	want := t.MaxLogicalWorkers + 1 // the workers and their launcher
	f := Finding{Check: "worker_processes", Status: StatusOK,
		Detail: fmt.Sprintf("target max_worker_processes=%d covers max_logical_replication_workers=%d plus the launcher", t.MaxWorkerProcesses, t.MaxLogicalWorkers)}
	switch {
	case t.MaxWorkerProcesses < 1+n:
		apply := "an apply worker"
		if n > 1 {
			apply = fmt.Sprintf("%d apply workers, one per apply stream", n)
		}
		f.Status = StatusError
		f.Detail = fmt.Sprintf("target max_worker_processes=%d leaves no room for the replication launcher and %s", t.MaxWorkerProcesses, apply)
	case t.MaxWorkerProcesses < want:
		f.Status = StatusWarn
		f.Detail = fmt.Sprintf("target max_worker_processes=%d is below max_logical_replication_workers+1=%d; workers may fail to start", t.MaxWorkerProcesses, want)
	}
	if n > 1 && f.Status != StatusError {
		f.Detail += fmt.Sprintf(" (%d apply streams: %d apply workers)", n, n)
	}
	if f.Status != StatusOK {
		f.Hint = fmt.Sprintf("ALTER SYSTEM SET max_worker_processes = %d on the target and restart it", workers+1+t.MaxParallelMaint)
	}
	return f
}

// shortVersion is "15.4" from "15.4 (Debian 15.4-1.pgdg120+1)".
func shortVersion(v string) string {
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return v
}
