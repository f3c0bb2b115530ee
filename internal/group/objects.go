package group

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Kind is what a deferred object is. It decides the build order (see
// package postdata) and is stored as its text in deferred_objects.kind.
type Kind string

// The kinds of deferred object.
const (
	PrimaryKey Kind = "primary" // primary key constraint
	UniqueKey  Kind = "unique"  // unique constraint
	PlainIndex Kind = "index"   // any other index or index-backed constraint (exclusion)
	// VectorIndex is an index by a vector access method (hnsw, ivfflat, ...).
	VectorIndex Kind = "vector"
	ForeignKey  Kind = "foreign" // foreign key constraint
	// CheckConstraint is a CHECK constraint added NOT VALID, which a copy
	// of rows that violate it would trip over (catalog.Check).
	CheckConstraint Kind = "check"
)

// kindNouns names each kind for people.
var kindNouns = map[Kind]string{PrimaryKey: "primary key", UniqueKey: "unique constraint", PlainIndex: "index",
	VectorIndex: "vector index", ForeignKey: "foreign key", CheckConstraint: "check constraint"}

// Noun names the kind for people: "vector index", "foreign key"; "" for a
// kind pgvecrep does not know.
func (k Kind) Noun() string { return kindNouns[k] }

// Known reports whether k is one of the kinds above. Rows of earlier
// versions that stored another (an exclusion constraint as "exclusion")
// were rewritten to PlainIndex by the migration that added references.
func (k Kind) Known() bool { return k.Noun() != "" }

// Deferred is a target index or constraint dropped before the copy and to be
// built again after it: saved by SaveDeferred before the drop, and built
// by package postdata (whose Object it is).
type Deferred struct {
	Table pg.Name
	Name  string // index name, or constraint name for constraints
	Kind  Kind
	Def   string // CREATE INDEX ... or ALTER TABLE ... ADD CONSTRAINT ...
	Bytes int64  // size on the source, for ordering
	// References is the table a foreign key references; zero when unknown,
	// which makes the key wait for every table.
	References pg.Name
	// Restore are the statements that give the object back what Def
	// cannot say (replica identity, CLUSTER ON, comments, statistics
	// targets...), run after it is built; see catalog.Index.
	Restore []string
}

// String names the object for errors and progress: vector index "x" on public.t.
func (d Deferred) String() string {
	return fmt.Sprintf("%s %s on %s", d.Kind.Noun(), pgx.Identifier{d.Name}.Sanitize(), d.Table)
}

// SaveDeferred records objects about to be dropped, before they are dropped,
// so a crash between the drop and the rebuild never loses a definition.
func SaveDeferred(ctx context.Context, conn *pgx.Conn, group string, objs []Deferred) error {
	if err := mustExist(ctx, conn, group); err != nil {
		return err
	}
	for _, d := range objs {
		if !d.Kind.Known() {
			return fmt.Errorf("record deferred %s: unknown kind %q", d.Name, d.Kind)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO pgvecrep.deferred_objects
			(group_name, schema_name, table_name, name, kind, definition, bytes, restore, references_schema, references_name)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (group_name, schema_name, table_name, name) DO UPDATE SET definition = EXCLUDED.definition,
			kind = EXCLUDED.kind, bytes = EXCLUDED.bytes, restore = EXCLUDED.restore,
			references_schema = EXCLUDED.references_schema, references_name = EXCLUDED.references_name, built_at = NULL`,
			group, d.Table.Schema, d.Table.Name, d.Name, string(d.Kind), d.Def, d.Bytes, nonNil(d.Restore),
			d.References.Schema, d.References.Name); err != nil {
			return fmt.Errorf("record deferred %s: %w", d, err)
		}
	}
	return nil
}

// PendingDeferred lists the objects not built yet, largest first.
func PendingDeferred(ctx context.Context, conn *pgx.Conn, group string) ([]Deferred, error) {
	if ok, err := SchemaExists(ctx, conn); err != nil || !ok {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT schema_name, table_name, name, kind, definition, restore, bytes,
		references_schema, references_name
		FROM pgvecrep.deferred_objects WHERE group_name = $1 AND built_at IS NULL
		ORDER BY bytes DESC, name`, group)
	if err != nil {
		return nil, fmt.Errorf("list deferred objects: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Deferred, error) {
		var d Deferred
		var kind string
		err := r.Scan(&d.Table.Schema, &d.Table.Name, &d.Name, &kind, &d.Def, &d.Restore, &d.Bytes,
			&d.References.Schema, &d.References.Name)
		d.Kind = Kind(kind)
		return d, err
	})
}

// nonNil is s, or an empty list for nil (which would be NULL).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MarkBuilt records that a deferred object exists again.
func MarkBuilt(ctx context.Context, conn *pgx.Conn, group string, d Deferred) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.deferred_objects SET built_at = now()
		WHERE group_name = $1 AND schema_name = $2 AND table_name = $3 AND name = $4`,
		group, d.Table.Schema, d.Table.Name, d.Name)
	return err
}

// TableState is one table's progress in a group.
type TableState struct {
	Table       pg.Name
	State       string
	RowsCopied  int64
	BytesCopied int64
	// StartedAt and FinishedAt are when pgvecrep's copy of the table began
	// and ended (the engine's copy, native mode, records neither); a table
	// that joined a streaming group has both at the time it joined. Set by
	// SetTableState and SetTables; nil until then.
	StartedAt, FinishedAt *time.Time
}

// Tables lists a group's per-table state, ordered by schema and name.
func Tables(ctx context.Context, conn *pgx.Conn, group string) ([]TableState, error) {
	rows, err := conn.Query(ctx, `SELECT schema_name, table_name, state, rows_copied, bytes_copied, started_at, finished_at
		FROM pgvecrep.tables WHERE group_name = $1 ORDER BY schema_name, table_name`, group)
	if err != nil {
		return nil, fmt.Errorf("read the tables of group %q: %w", group, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableState, error) {
		var ts TableState
		err := r.Scan(&ts.Table.Schema, &ts.Table.Name, &ts.State, &ts.RowsCopied, &ts.BytesCopied, &ts.StartedAt, &ts.FinishedAt)
		return ts, err
	})
}

// SetTableState records a table's copy progress.
func SetTableState(ctx context.Context, conn *pgx.Conn, group string, ts TableState) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.tables SET state = $3, rows_copied = $4, bytes_copied = $5,
		started_at = coalesce(started_at, now()),
		finished_at = CASE WHEN $3 = 'copied' THEN now() ELSE finished_at END
		WHERE group_name = $1 AND schema_name = $6 AND table_name = $2`,
		group, ts.Table.Name, ts.State, ts.RowsCopied, ts.BytesCopied, ts.Table.Schema)
	return err
}
