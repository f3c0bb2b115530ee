package ddl

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// What the DDL log tells the layer that finishes captured DDL outside the
// apply worker (internal/settle): which vector indexes wait for a build,
// which tables the publication has and the subscription lacks. The log is
// this package's; the builds and the subscription refresh are not, so that
// a reader of the log (stats) does not pull in the index builder.

// StatusDropped marks a deferred index dropped on the source before the
// target built it: it is never built.
const StatusDropped = "dropped"

// Installed reports whether conn's side has the DDL log of the group whose
// objects are named objectName.
func Installed(ctx context.Context, conn *pgx.Conn, objectName string) (bool, error) {
	return installed(ctx, conn, namesOf(objectName))
}

// DeferredIndex is a vector index the target's trigger left for a
// concurrent build.
type DeferredIndex struct {
	ID         int64
	Index      string // its qualified name
	Definition string // as pg_get_indexdef prints it on the source
	// DroppedOnSource says a later entry dropped it on the source: it is
	// never built.
	DroppedOnSource bool
}

const deferredQuery = `SELECT l.id, l.object, l.statement,
	EXISTS (SELECT 1 FROM %[1]s d WHERE d.id > l.id AND d.tag = 'DROP INDEX' AND d.object = l.object)
FROM %[1]s l WHERE l.status = 'deferred' ORDER BY l.id`

// Deferred lists the group's deferred indexes in the order the source
// made them.
func Deferred(ctx context.Context, tgt *pgx.Conn, objectName string) ([]DeferredIndex, error) {
	rows, err := tgt.Query(ctx, fmt.Sprintf(deferredQuery, q(namesOf(objectName).log)))
	if err != nil {
		return nil, fmt.Errorf("list deferred indexes: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeferredIndex])
	if err != nil {
		return nil, fmt.Errorf("list deferred indexes: %w", err)
	}
	return out, nil
}

// MarkIndex records what became of deferred index d: StatusBuilt or
// StatusDropped.
func MarkIndex(ctx context.Context, tgt *pgx.Conn, objectName string, d DeferredIndex, status string) error {
	sql := "UPDATE " + q(namesOf(objectName).log) + " SET status = $2, applied_at = now() WHERE id = $1"
	if _, err := tgt.Exec(ctx, sql, d.ID, status); err != nil {
		return fmt.Errorf("record index %s as %s: %w", d.Index, status, err)
	}
	return nil
}

// publicationQuery says whether the group's publication exists.
const publicationQuery = `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`

const publishedQuery = `SELECT schemaname::text, tablename::text FROM pg_publication_tables
WHERE pubname = $1 AND NOT (schemaname = 'pgvecrep' AND tablename = $2) ORDER BY 1`

const subscribedQuery = `SELECT n.nspname::text, c.relname::text FROM pg_subscription_rel sr
JOIN pg_subscription s ON s.oid = sr.srsubid JOIN pg_class c ON c.oid = sr.srrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
AND NOT (n.nspname = 'pgvecrep' AND c.relname = $2) ORDER BY 1`

// HasPublication reports whether the group's publication exists: after a
// switchover, failover or stop_sync it is gone.
func HasPublication(ctx context.Context, src *pgx.Conn, objectName string) (bool, error) {
	var ok bool
	if err := src.QueryRow(ctx, publicationQuery, objectName).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up publication %s: %w", objectName, err)
	}
	return ok, nil
}

// Published returns the tables of the group's publication but its DDL
// log, sorted by [ByName].
func Published(ctx context.Context, src *pgx.Conn, objectName string) ([]pg.Name, error) {
	tables, err := tableNames(ctx, src, publishedQuery, objectName, namesOf(objectName).log)
	if err != nil {
		return nil, fmt.Errorf("list the tables of publication %s: %w", objectName, err)
	}
	return tables, nil
}

// Unsubscribed lists the published tables the subscription does not have.
func Unsubscribed(ctx context.Context, tgt *pgx.Conn, sub string, published []pg.Name) ([]string, error) {
	subscribed, err := tableNames(ctx, tgt, subscribedQuery, sub, namesOf(sub).log)
	if err != nil {
		return nil, fmt.Errorf("list the tables of subscription %s: %w", sub, err)
	}
	var missing []string
	for _, t := range published {
		if !slices.Contains(subscribed, t) {
			missing = append(missing, t.String())
		}
	}
	return missing, nil
}

// tableNames runs a query of schema and table names and returns them
// sorted by ByName, as names (the metadata keeps them as data).
func tableNames(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]pg.Name, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pg.Name, error) {
		var n pg.Name
		return n, r.Scan(&n.Schema, &n.Name)
	})
	slices.SortFunc(names, ByName)
	return names, err
}

// ByName orders names by schema, then name, byte-wise: the same order on
// both sides of a comparison, whatever the servers' collations.
func ByName(a, b pg.Name) int {
	if c := strings.Compare(a.Schema, b.Schema); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

func strs(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]string, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// PublishKeyed offers the publication again the tables the capture saw
// created without a key (see unreplicatedQuery): publishFunc left them out,
// and once the user has given one a primary key or a replica identity,
// apply_ddl_change (or follow) is what the warning told them to run. It
// returns those still without a key: they got the same warning, and stay
// out.
func PublishKeyed(ctx context.Context, src *pgx.Conn, objectName string) ([]string, error) {
	log := namesOf(objectName).log
	list := func() ([]string, error) {
		t, err := strs(ctx, src, fmt.Sprintf(unreplicatedQuery, q(log)), objectName)
		if err != nil {
			return nil, fmt.Errorf("list the tables created without a key: %w", err)
		}
		return t, nil
	}
	tables, err := list()
	if err != nil || len(tables) == 0 {
		return nil, err
	}
	for _, t := range tables {
		if _, err := src.Exec(ctx, "SELECT "+q(log+"_pub")+"($1::regclass)", t); err != nil {
			return nil, fmt.Errorf("publish table %s: %w", t, err)
		}
	}
	return list()
}

// LogTable is the group's DDL log as a forward publication carries it.
// start_sync puts the log in the publication when it installs the
// capture; a publication made again later (switchback's) must carry it
// too, or schema changes on the source are logged and never reach the
// target. The log is returned only when both sides have it: a log row
// reaching a target without the table would stall the apply. onlyOn names
// the one side that has it otherwise ("source" or "target"), and is empty
// for a group that captures nothing (--ddl off).
func LogTable(ctx context.Context, src, tgt *pgx.Conn, objectName string) (log pg.Name, onlyOn string, err error) {
	n := namesOf(objectName)
	onSrc, err := installed(ctx, src, n)
	if err != nil {
		return log, "", fmt.Errorf("on the source: %w", err)
	}
	onTgt, err := installed(ctx, tgt, n)
	if err != nil {
		return log, "", fmt.Errorf("on the target: %w", err)
	}
	switch {
	case onSrc && onTgt:
		return pg.Name{Schema: group.Schema, Name: n.log}, "", nil
	case onSrc:
		return log, "source", nil
	case onTgt:
		return log, "target", nil
	}
	return log, "", nil
}
