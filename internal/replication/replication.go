// Package replication owns the lifecycle of a group's logical replication
// objects: the publication and the slot on the source, the subscription on
// the target, taking them down with or without the source, the SQL a user
// is told to run when pgvecrep cannot, and waiting until the target has
// applied the source's WAL up to a position. No other package writes that
// SQL, so there is one place to read how each object is made and removed.
//
// The slot is always created by pgvecrep on the source, never by CREATE
// SUBSCRIPTION: creating it remotely hangs when both databases share a
// cluster, and a slot pgvecrep made is one it knows to drop. When the copy
// is pgvecrep's own (the fast path), the slot is created together with the
// snapshot it exports: data copied under that snapshot plus the changes the
// slot streams from its consistent point on is every row once, no gap and no
// duplicate. The exported snapshot lives only as long as the replication
// connection that created it stays open and idle, which is why [Slot] keeps
// that connection until [Slot.Close].
//
// Taking a subscription down always detaches it from its slot first
// (DISABLE, then SET (slot_name = NONE), then DROP), so DROP SUBSCRIPTION
// never contacts the source: the slot is then dropped directly on the source
// when it is reachable, or reported with [DropSQL] when it is not.
package replication

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Printer receives one event for each object created or dropped, so a user
// sees what changed on which side. Any event.Sink satisfies it
// (*progress.Printer renders it on the terminal).
type Printer interface {
	Emit(event.Event)
}

// PublicationOptions are the publication's WITH options pgvecrep sets.
type PublicationOptions struct {
	// ViaRoot publishes a partitioned table's changes, and its initial
	// copy, as changes of the partitioned table itself rather than of the
	// partition each row is in (publish_via_partition_root). The target
	// then needs only the same partitioned table, which routes each row to
	// its own partition, and the group lists the table it names.
	ViaRoot bool
	// Filters are row filters by table (PostgreSQL 15+): parallel apply
	// publishes each stream's share of a table (package parallel).
	Filters map[pg.Name]string
}

// CreatePublicationWith creates publication name on the source for exactly
// the given tables, with opts. A publication that exists already fails with
// SQLSTATE 42710 (pg.Code), which the caller turns into a hint naming its
// group.
func CreatePublicationWith(ctx context.Context, src *pgx.Conn, name string, tables []pg.Name, opts PublicationOptions) error {
	list := catalog.QuotedNames(tables)
	for i, t := range tables {
		if f, ok := opts.Filters[t]; ok {
			list[i] += " WHERE (" + f + ")"
		}
	}
	sql := fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s", pgx.Identifier{name}.Sanitize(), strings.Join(list, ", "))
	if opts.ViaRoot {
		sql += " WITH (publish_via_partition_root = true)"
	}
	if _, err := src.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create publication %s on the source: %w", name, err)
	}
	return nil
}

// AddTableSQL is the statement that adds table (already quoted) to
// publication name, for callers that must run it inside a transaction of
// their own (the DDL capture installs its log table with it).
func AddTableSQL(name, quotedTable string) string {
	return fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s", pgx.Identifier{name}.Sanitize(), quotedTable)
}

// exists runs query, a SELECT EXISTS over $1, for the kind object name: the
// drops look first so that they can report whether there was anything to
// drop.
func exists(ctx context.Context, conn *pgx.Conn, query, kind, name string) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, query, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up %s %s: %w", kind, name, err)
	}
	return ok, nil
}

const publicationExistsQuery = `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`

// DropPublication drops publication name on the source and reports whether
// it existed; a missing one is not an error, so cleanup can run again after
// a partial failure.
func DropPublication(ctx context.Context, src *pgx.Conn, name string) (bool, error) {
	if ok, err := exists(ctx, src, publicationExistsQuery, "publication", name); !ok || err != nil {
		return false, err
	}
	if _, err := src.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, fmt.Errorf("drop publication %s on the source: %w", name, err)
	}
	return true, nil
}

// DropSQL is what a user runs on the source to drop the slot and the
// publication pgvecrep had to leave behind because the source was
// unreachable (stop_sync, cleanup, failover). A slot left there keeps WAL
// until the disk is full, so every command that leaves one prints this.
func DropSQL(slot, publication string) string {
	return fmt.Sprintf("SELECT pg_drop_replication_slot(%s); DROP PUBLICATION IF EXISTS %s;",
		pg.Literal(slot), pgx.Identifier{publication}.Sanitize())
}
