package pg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Facts are what pgvecrep needs to know about a server before it touches it.
type Facts struct {
	VersionNum         int    // server_version_num, e.g. 150010
	Version            string // server_version
	SystemID           string // pg_control_system().system_identifier
	Database           string
	User               string
	Superuser          bool
	WALLevel           string
	MaxReplSlots       int
	UsedReplSlots      int
	MaxWALSenders      int
	UsedWALSenders     int
	MaxLogicalWorkers  int
	MaxWorkerProcesses int
	MaxSyncWorkers     int
	MaintenanceWorkMem int64 // bytes
	MaxParallelMaint   int
}

// Major is the server's major version (15 for 150010).
func (f Facts) Major() int { return f.VersionNum / 10000 }

const factsQuery = `
SELECT current_setting('server_version_num')::int,
       current_setting('server_version'),
       (SELECT system_identifier::text FROM pg_control_system()),
       current_database(), current_user,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       current_setting('wal_level'),
       current_setting('max_replication_slots')::int,
       (SELECT count(*) FROM pg_replication_slots)::int,
       current_setting('max_wal_senders')::int,
       (SELECT count(*) FROM pg_stat_replication)::int,
       current_setting('max_logical_replication_workers')::int,
       current_setting('max_worker_processes')::int,
       current_setting('max_sync_workers_per_subscription')::int,
       pg_size_bytes(current_setting('maintenance_work_mem')),
       current_setting('max_parallel_maintenance_workers')::int`

// LoadFacts reads the server's facts.
func LoadFacts(ctx context.Context, conn *pgx.Conn) (Facts, error) {
	var f Facts
	err := conn.QueryRow(ctx, factsQuery).Scan(&f.VersionNum, &f.Version, &f.SystemID,
		&f.Database, &f.User, &f.Superuser, &f.WALLevel, &f.MaxReplSlots, &f.UsedReplSlots,
		&f.MaxWALSenders, &f.UsedWALSenders, &f.MaxLogicalWorkers, &f.MaxWorkerProcesses,
		&f.MaxSyncWorkers, &f.MaintenanceWorkMem, &f.MaxParallelMaint)
	if err != nil {
		return f, fmt.Errorf("read server facts: %w", err)
	}
	return f, nil
}

// MemberOf reports whether the current user is a member of role (directly or
// through other roles).
func MemberOf(ctx context.Context, conn *pgx.Conn, role string) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
		AND pg_has_role(current_user, $1, 'MEMBER')`, role).Scan(&ok)
	return ok, err
}
