package ddl

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// StatusDropped marks a deferred index dropped on the source before the
// target built it: it is never built.
const StatusDropped = "dropped"

// Settle finishes what the apply worker cannot do inside its transaction:
//   - tables added to the publication (created on the source in one of the
//     group's schemas) join the subscription, which copies their rows
//     (ALTER SUBSCRIPTION ... REFRESH PUBLICATION);
//   - the group's table list follows the publication (new, renamed and
//     dropped tables), so stats, verify and switchover see them;
//   - deferred vector indexes are built with CREATE INDEX CONCURRENTLY, which
//     takes no lock that would stop the apply worker.
//
// It is safe to run at any time and any number of times. src may be nil:
// only the index builds run then. The table list follows the publication
// only while the group replicates: after a switchover, failover or stop the
// publication is gone, and an empty list read from it would leave the
// group with no tables at all.
func Settle(ctx context.Context, src, tgt *pgx.Conn, g group.Group, out io.Writer) error {
	n := namesOf(g.ObjectName)
	if ok, err := installed(ctx, tgt, n); err != nil || !ok {
		return err
	}
	if src != nil && !ended(g.Phase) {
		if err := followPublication(ctx, src, tgt, g, out); err != nil {
			return err
		}
	}
	return buildDeferred(ctx, tgt, n, out)
}

// ended reports whether a phase means the group replicates no more.
func ended(p group.Phase) bool {
	return p == group.SwitchedOver || p == group.FailedOver || p == group.Stopped
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

// followPublication refreshes the subscription when the publication has
// tables it does not, and records the publication's tables on the group.
func followPublication(ctx context.Context, src, tgt *pgx.Conn, g group.Group, out io.Writer) error {
	var exists bool
	if err := src.QueryRow(ctx, publicationQuery, g.ObjectName).Scan(&exists); err != nil || !exists {
		return err // no publication: nothing to follow, and no reason to forget the tables
	}
	log := namesOf(g.ObjectName).log
	if err := publishKeyed(ctx, src, g, log, out); err != nil {
		return err
	}
	published, err := tableNames(ctx, src, publishedQuery, g.ObjectName, log)
	if err != nil {
		return fmt.Errorf("list the tables of publication %s: %w", g.ObjectName, err)
	}
	missing, err := unsubscribed(ctx, tgt, g.ObjectName, published)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := waitCreated(ctx, src, tgt, g, missing); err != nil {
			return err
		}
		if err := replication.Refresh(ctx, tgt, g.ObjectName); err != nil {
			return err
		}
		fmt.Fprintf(out, "subscription %s refreshed: copying new table(s) %s\n", g.ObjectName, strings.Join(missing, ", "))
	}
	cur, err := group.Get(ctx, tgt, g.Name) // g may be older than the last settle
	if err != nil {
		return err
	}
	sorted := slices.Clone(cur.Tables)
	slices.SortFunc(sorted, byName)
	if !slices.Equal(sorted, published) {
		if err := group.SetTables(ctx, tgt, g.Name, published); err != nil {
			return err
		}
		fmt.Fprintf(out, "group %s now has %d table(s)\n", g.Name, len(published))
	}
	return nil
}

// createdWait is how long waitCreated waits for the apply worker.
var createdWait = time.Minute

// waitCreated waits until the target has each of tables, which the apply
// worker creates in stream order: apply_ddl_change run right after a
// CREATE TABLE on the source would otherwise refresh the subscription
// before the table is there, and fail. It waits for the target to apply
// everything the source has now, at most createdWait.
func waitCreated(ctx context.Context, src, tgt *pgx.Conn, g group.Group, tables []string) error {
	absent := func() ([]string, error) {
		return strs(ctx, tgt, `SELECT t FROM unnest($1::text[]) t WHERE to_regclass(t) IS NULL`, tables)
	}
	if gone, err := absent(); err != nil || len(gone) == 0 {
		return err
	}
	var lsn string
	if err := src.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return fmt.Errorf("read the source's WAL position: %w", err)
	}
	waitErr := replication.WaitApplied(ctx, src, g.ObjectName, lsn, time.Now().Add(createdWait), 0)
	gone, err := absent()
	switch {
	case err != nil:
		return err
	case len(gone) > 0:
		e := fmt.Errorf("table(s) %s are published but not created on the target yet", strings.Join(gone, ", "))
		if waitErr != nil {
			e = fmt.Errorf("%w (%v)", e, waitErr)
		}
		return hint.Wrap(e, "the apply worker creates them in stream order: see pgvecrep stats -g "+g.Name+
			" (a stalled group says why), then run apply_ddl_change again")
	}
	return nil
}

// unsubscribed lists the published tables the subscription does not have.
func unsubscribed(ctx context.Context, tgt *pgx.Conn, sub string, published []pg.Name) ([]string, error) {
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
// sorted by byName, as names (the metadata keeps them as data).
func tableNames(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]pg.Name, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pg.Name, error) {
		var n pg.Name
		return n, r.Scan(&n.Schema, &n.Name)
	})
	slices.SortFunc(names, byName)
	return names, err
}

// byName orders names by schema, then name, byte-wise: the same order on
// both sides of a comparison, whatever the servers' collations.
func byName(a, b pg.Name) int {
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

const deferredQuery = `SELECT l.id, l.object, l.statement,
	EXISTS (SELECT 1 FROM %[1]s d WHERE d.id > l.id AND d.tag = 'DROP INDEX' AND d.object = l.object)
FROM %[1]s l WHERE l.status = 'deferred' ORDER BY l.id`

// buildDeferred builds each deferred vector index concurrently, in the
// order the source made them, and skips those the source dropped since.
// A build that fails leaves an invalid index, which is dropped so the next
// try starts clean.
func buildDeferred(ctx context.Context, tgt *pgx.Conn, n names, out io.Writer) error {
	rows, err := tgt.Query(ctx, fmt.Sprintf(deferredQuery, q(n.log)))
	if err != nil {
		return fmt.Errorf("list deferred indexes: %w", err)
	}
	type pending struct {
		id            int64
		index, def    string
		droppedSource bool
	}
	var todo []pending
	var p pending
	if _, err := pgx.ForEachRow(rows, []any{&p.id, &p.index, &p.def, &p.droppedSource}, func() error {
		todo = append(todo, p)
		return nil
	}); err != nil {
		return fmt.Errorf("list deferred indexes: %w", err)
	}
	for _, p := range todo {
		status := StatusDropped
		if !p.droppedSource {
			if err := buildConcurrently(ctx, tgt, p.index, p.def); err != nil {
				return err
			}
			status = StatusBuilt
			fmt.Fprintf(out, "built index %s on the target (concurrently)\n", p.index)
		}
		if _, err := tgt.Exec(ctx, "UPDATE "+q(n.log)+" SET status = $2, applied_at = now() WHERE id = $1", p.id, status); err != nil {
			return fmt.Errorf("record index %s as built: %w", p.index, err)
		}
	}
	return nil
}

// buildConcurrently runs an index definition (as pg_get_indexdef prints it)
// with CONCURRENTLY (leaf by leaf on a partitioned table, see
// postdata.ConcurrentlyByLeaf), sized as start_sync sizes its vector builds
// (postdata.PrepareVectorBuild, out of start_sync's default budget): the
// session's own maintenance_work_mem is often the server's 64MB, which an
// HNSW graph of any size outgrows, and a table of 768-d vectors would get
// no parallel worker.
func buildConcurrently(ctx context.Context, tgt *pgx.Conn, index, def string) error {
	budget, err := postdata.DefaultBudget(ctx, tgt)
	if err != nil {
		return err
	}
	if strings.Contains(def, " ON ONLY ") {
		// On a partitioned table: CREATE INDEX CONCURRENTLY refuses it.
		return postdata.ConcurrentlyByLeaf(ctx, tgt, index, def, budget)
	}
	if err := dropInvalid(ctx, tgt, index); err != nil {
		return err
	}
	sql := strings.Replace(def, " INDEX ", " INDEX CONCURRENTLY IF NOT EXISTS ", 1)
	if table := vector.IndexTable(def); table != "" {
		undo, err := postdata.PrepareVectorBuild(ctx, tgt, table, def, budget)
		defer undo()
		if err != nil {
			return fmt.Errorf("prepare the build of index %s: %w", index, err)
		}
	}
	if _, err := tgt.Exec(ctx, sql); err != nil {
		_, _ = tgt.Exec(context.WithoutCancel(ctx), "DROP INDEX CONCURRENTLY IF EXISTS "+index)
		return fmt.Errorf("build index %s on the target: %w", index, err)
	}
	return nil
}

// dropInvalid drops index when an earlier build left it invalid: a
// CREATE INDEX CONCURRENTLY cut off (a killed apply_ddl_change or follow)
// leaves the index in the catalog, unusable, and IF NOT EXISTS would then
// skip the build and record an index that answers no query. DROP INDEX
// CONCURRENTLY waits for a build still running in another session.
func dropInvalid(ctx context.Context, tgt *pgx.Conn, index string) error {
	var invalid bool
	err := tgt.QueryRow(ctx, `SELECT coalesce((SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false)`, index).Scan(&invalid)
	if err != nil {
		return fmt.Errorf("look up index %s on the target: %w", index, err)
	}
	if !invalid {
		return nil
	}
	if _, err := tgt.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+index); err != nil {
		return fmt.Errorf("drop the invalid index %s an interrupted build left: %w", index, err)
	}
	return nil
}

// publishKeyed offers the publication again the tables the capture saw
// created without a key (see unreplicatedQuery): publishFunc left them out,
// and once the user has given one a primary key or a replica identity,
// apply_ddl_change is what the warning told them to run. One still without
// a key gets the same warning, stays out, and is named.
func publishKeyed(ctx context.Context, src *pgx.Conn, g group.Group, log string, out io.Writer) error {
	list := func() ([]string, error) {
		t, err := strs(ctx, src, fmt.Sprintf(unreplicatedQuery, q(log)), g.ObjectName)
		if err != nil {
			return nil, fmt.Errorf("list the tables created without a key: %w", err)
		}
		return t, nil
	}
	tables, err := list()
	if err != nil || len(tables) == 0 {
		return err
	}
	for _, t := range tables {
		if _, err := src.Exec(ctx, "SELECT "+q(log+"_pub")+"($1::regclass)", t); err != nil {
			return fmt.Errorf("publish table %s: %w", t, err)
		}
	}
	left, err := list()
	if err == nil && len(left) > 0 {
		fmt.Fprintf(out, "not replicated, no primary key or replica identity on the source: %s\n", strings.Join(left, ", "))
	}
	return err
}
