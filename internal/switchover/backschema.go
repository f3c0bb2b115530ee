package switchover

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// The reverse stream carries rows, not schema changes: the forward
// direction's DDL capture lives on the old primary, and nothing captures a
// change made on the new one. A column added on the new primary stalls the
// reverse apply as soon as a row using it arrives (stats shows the apply
// error); a column dropped or retyped may apply silently into a different
// shape. So switchback compares the tables' columns on both sides before
// it freezes anything and refuses on a difference, naming it, with the
// way out: make the same change on the source (DDL is not frozen there),
// which lets the stalled apply go on.

// columnsQuery lists each table's columns (name and type, by name: logical
// replication matches columns by name), or ” for a table that is missing.
const columnsQuery = `SELECT t, coalesce((SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attname)
	FROM pg_attribute a WHERE a.attrelid = to_regclass(t) AND a.attnum > 0 AND NOT a.attisdropped), '')
FROM unnest($1::text[]) t ORDER BY t`

func tableColumns(ctx context.Context, conn *pgx.Conn, tables []string) (map[string]string, error) {
	rows, err := conn.Query(ctx, columnsQuery, tables)
	if err != nil {
		return nil, fmt.Errorf("read the tables' columns: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var t, cols string
		if err := rows.Scan(&t, &cols); err != nil {
			return nil, err
		}
		out[t] = cols
	}
	return out, rows.Err()
}

// SchemaDrift lists, one line each, the group's tables whose columns differ
// between the source and the target.
func SchemaDrift(ctx context.Context, src, tgt *pgx.Conn, g group.Group) ([]string, error) {
	tables := reverseTables(g.Tables)
	names := group.QuotedNames(tables)
	a, err := tableColumns(ctx, tgt, names)
	if err != nil {
		return nil, err
	}
	b, err := tableColumns(ctx, src, names)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, t := range tables {
		if q := names[i]; a[q] != b[q] {
			out = append(out, fmt.Sprintf("%s: on the target (%s), on the source (%s)", t, orMissing(a[q]), orMissing(b[q])))
		}
	}
	return out, nil
}

func orMissing(cols string) string {
	if cols == "" {
		return "missing"
	}
	return cols
}

// checkSchema refuses a switchback while the tables differ.
func (b *back) checkSchema(ctx context.Context) error {
	drift, err := SchemaDrift(ctx, b.oldPrimary, b.newPrimary, b.g)
	if err != nil || len(drift) == 0 {
		return err
	}
	return hint.Wrap(fmt.Errorf("the schema changed on the target since the switchover, which the reverse stream does not carry: %s", strings.Join(drift, "; ")),
		fmt.Sprintf("make the same change on the source (DDL works there while it is frozen), check pgvecrep stats -g %s shows the reverse stream applying without error, then run pgvecrep switchback -g %s again", b.g.Name, b.g.Name))
}
