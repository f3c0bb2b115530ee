package ddl

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
)

// Status is where a group's DDL stands, for stats.
type Status struct {
	// Pending counts the changes captured on the source that the target has
	// not received yet (the apply worker has not reached them).
	Pending int `json:"pending"`
	// Recorded counts the changes track mode recorded on the target and no
	// one has applied yet.
	Recorded int `json:"recorded,omitempty"`
	// DeferredIndexes are vector indexes waiting for a concurrent build.
	DeferredIndexes []string `json:"deferred_indexes,omitempty"`
	// NewTables are tables the publication has and the subscription does
	// not yet: their rows arrive once the subscription is refreshed.
	NewTables []string `json:"new_tables,omitempty"`
	// Unreplicated are tables the group's capture saw created that have
	// no primary key and no replica identity: the publication refuses
	// them (once published, the source would reject their updates and
	// deletes), so their rows stay on the source until one is added.
	Unreplicated []string `json:"unreplicated_tables,omitempty"`
	// Next is the first change the target has not received: when the group
	// is stalled, the one the apply worker fails at, most likely.
	Next *Change `json:"next,omitempty"`
	// Refused says why the target refuses Next, when its safety check does.
	Refused string `json:"refused,omitempty"`
}

// GetStatus reads a group's DDL status; nil when the group has no DDL
// capture. src may be nil (source unreachable): only the target's side is
// filled in then.
func GetStatus(ctx context.Context, src, tgt *pgx.Conn, g group.Group) (*Status, error) {
	n := namesOf(g.ObjectName)
	if ok, err := installed(ctx, tgt, n); err != nil || !ok {
		return nil, err
	}
	s := &Status{}
	var err error
	if s.DeferredIndexes, err = strs(ctx, tgt, "SELECT object FROM "+q(n.log)+" WHERE status = 'deferred' ORDER BY id"); err != nil {
		return nil, fmt.Errorf("read deferred indexes: %w", err)
	}
	if err := tgt.QueryRow(ctx, "SELECT count(*) FROM "+q(n.log)+" l WHERE status = 'recorded' AND NOT EXISTS (SELECT 1 FROM "+
		q(n.resolved)+" r WHERE r.id = l.id)").Scan(&s.Recorded); err != nil {
		return nil, fmt.Errorf("read recorded DDL: %w", err)
	}
	if src == nil {
		return s, nil
	}
	if ok, err := installed(ctx, src, n); err != nil || !ok {
		return s, err
	}
	return s, s.sourceSide(ctx, src, tgt, g, n)
}

// sourceSide fills in what needs the source: pending changes, the next
// one and the target's verdict on it, and tables waiting for a refresh.
func (s *Status) sourceSide(ctx context.Context, src, tgt *pgx.Conn, g group.Group, n names) error {
	var last int64
	if err := tgt.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM "+q(n.log)).Scan(&last); err != nil {
		return fmt.Errorf("read the target's DDL log: %w", err)
	}
	var next int64
	var cols []byte
	err := src.QueryRow(ctx, "SELECT count(*) OVER (), id, columns::text FROM "+q(n.log)+" WHERE id > $1 ORDER BY id LIMIT 1", last).
		Scan(&s.Pending, &next, &cols)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read the source's DDL log: %w", err)
	}
	if next > 0 {
		changes, err := List(ctx, src, tgt, g.Name, next, 1)
		if err != nil || len(changes) == 0 {
			return err
		}
		s.Next = &changes[0]
		var refused *string
		if err := tgt.QueryRow(ctx, "SELECT "+q(n.verdict)+"($1, $2, $3::jsonb)", s.Next.Tag, s.Next.Object, cols).Scan(&refused); err != nil {
			return fmt.Errorf("check DDL change %d on the target: %w", next, err)
		}
		if refused != nil {
			s.Refused = *refused
		}
	}
	published, err := tableNames(ctx, src, publishedQuery, g.ObjectName, n.log)
	if err != nil {
		return fmt.Errorf("list the tables of publication %s: %w", g.ObjectName, err)
	}
	// Before the group streams, start_sync itself subscribes every published
	// table: only then is one the subscription lacks a new table.
	if g.Phase == group.Streaming {
		if s.NewTables, err = Unsubscribed(ctx, tgt, g.ObjectName, published); err != nil {
			return err
		}
	}
	if s.Unreplicated, err = strs(ctx, src, fmt.Sprintf(unreplicatedQuery, q(n.log)), g.ObjectName); err != nil {
		return fmt.Errorf("list the tables created without a key: %w", err)
	}
	return nil
}

// unreplicatedQuery lists the tables a group's capture logged as created
// that still exist, are not in its publication (nor, being partitions,
// through their parent) and are permanent: the keyless tables publishFunc
// left out with a warning only the creating session saw.
const unreplicatedQuery = `SELECT DISTINCT format('%%I.%%I', n.nspname, c.relname)
FROM %s l JOIN pg_class c ON c.oid = to_regclass(l.object) JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.tag = 'CREATE TABLE' AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND NOT c.relispartition
AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                WHERE p.pubname = $1 AND pr.prrelid = c.oid)
ORDER BY 1`
