package switchover

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
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
	names := catalog.QuotedNames(tables)
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

// carriedQuery lists the tables a publication carries.
const carriedQuery = `SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1`

// checkCarried refuses a switchback while a group table is not in the
// reverse publication (switchover left it out: no key or replica identity
// on the target): the writes made to it on the target are not on the
// source. With Force it goes on and says so.
func (b *back) checkCarried(ctx context.Context) error {
	rows, err := b.newPrimary.Query(ctx, carriedQuery, b.g.ObjectName)
	if err != nil {
		return fmt.Errorf("read the tables of publication %s: %w", b.g.ObjectName, err)
	}
	carried, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pg.Name])
	if err != nil {
		return fmt.Errorf("read the tables of publication %s: %w", b.g.ObjectName, err)
	}
	in := map[pg.Name]bool{}
	for _, c := range carried {
		in[c] = true
	}
	var left []string
	for _, t := range reverseTables(b.g.Tables) {
		if !in[t] {
			left = append(left, t.String())
		}
	}
	if len(left) == 0 {
		return nil
	}
	if b.opts.Force {
		for _, t := range left {
			b.say(event.Note, "--force: %s is not carried back; rows written to it on the target since the switchover are not on the source", t)
		}
		return nil
	}
	return hint.Wrap(fmt.Errorf("the way back does not carry %s (no key or replica identity on the target at the switchover): rows written there since are not on the source", strings.Join(left, ", ")),
		fmt.Sprintf("copy those tables' rows to the source yourself (e.g. pg_dump --data-only -t TABLE from the target), then run pgvecrep switchback -g %s --force", b.g.Name))
}
