package stats

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Stall says why a streaming group applies nothing.
type Stall struct {
	Reason string `json:"reason"`
	// Statement is the captured DDL the apply worker most likely stopped
	// at, when there is one.
	Statement string     `json:"statement,omitempty"`
	DDLID     int64      `json:"ddl_id,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	Hint      string     `json:"hint"`
}

// health fills in each stream's subscription health, the group's (see
// mergeHealth) and the DDL status, and shows a streaming group with an
// apply worker that keeps failing, or a stream disabled, as stalled: a
// group must never read STREAMING while some of it is not applied.
func health(ctx context.Context, src, tgt *pgx.Conn, g group.Group, r *Report) error {
	hs, err := streamHealth(ctx, tgt, r.Streams)
	if err != nil {
		return err
	}
	// Stream 0 carries every table, and only it copies them.
	failing := syncStalled(&hs[0], r.Tables)
	setStreamHealth(r.Streams, hs)
	h := mergeHealth(r.Streams, hs)
	if h.Exists {
		r.Health = &h
	}
	if r.DDL, err = ddl.GetStatus(ctx, src, tgt, g); err != nil {
		return err
	}
	if !h.Stalled || r.Phase != group.Streaming {
		return nil
	}
	r.Phase = group.Stalled
	if len(failing) > 0 && hs[0].Worker {
		r.Stall, err = tableStall(ctx, src, tgt, g, failing, h)
		return err
	}
	st := &Stall{Reason: h.Reason, Hint: fmt.Sprintf("fix the cause on the target; the apply worker retries by itself and nothing is lost (pgvecrep stats -g %s --watch shows it resume)", g.Name)}
	if d := r.DDL; d != nil && d.Next != nil {
		st.Statement, st.DDLID, st.Since = d.Next.Statement, d.Next.ID, &d.Next.CapturedAt
		st.Reason = fmt.Sprintf("the apply worker keeps failing at DDL change %d (%s, captured on the source)", d.Next.ID, d.Next.Tag)
		if d.Refused != "" {
			st.Reason = fmt.Sprintf("DDL change %d is not applied automatically: %s", d.Next.ID, d.Refused)
		} else if d.Next.Kind == "manual" {
			st.Reason = fmt.Sprintf("DDL change %d cannot be replayed: %s", d.Next.ID, d.Next.Note)
		}
		st.Hint = fmt.Sprintf("make the change on the target by hand, then run: pgvecrep apply_ddl_change -g %s -i %d --skip "+
			"(or let pgvecrep run it there: pgvecrep apply_ddl_change -g %s -i %d); nothing is lost meanwhile", g.Name, d.Next.ID, g.Name, d.Next.ID)
	}
	if d := r.DDL; d != nil && d.Next == nil && d.Recorded > 0 {
		st.Hint = fmt.Sprintf("%d schema change(s) recorded with --track-ddl are not applied on the target yet: pgvecrep list_ddl_changes -g %s shows them, pgvecrep apply_ddl_change -g %s applies them",
			d.Recorded, g.Name, g.Name)
	}
	r.Stall = st
	return nil
}

// syncStalled marks the tables whose initial copy keeps failing, and
// returns their names. The subscription counts table-sync failures
// (sync_error_count), and a table that is not ready while that count is
// above zero is one whose sync worker starts, fails and starts again every
// few seconds. The apply worker runs on meanwhile, so the subscription's
// own health reads fine and the table would read "copying" forever: here it
// reads "stalled", and so does the subscription's health.
func syncStalled(h *replication.Health, tables []TableStat) []pg.Name {
	if !h.Exists || h.SyncErrors == 0 {
		return nil
	}
	var out []pg.Name
	var names []string
	for i, t := range tables {
		switch t.State {
		case "waiting", "copying", "copied", "catching up":
			tables[i].State = "stalled"
			out, names = append(out, t.name), append(names, t.Table)
		}
	}
	if len(out) > 0 && !h.Stalled {
		h.Stalled = true
		h.Reason = fmt.Sprintf("the initial copy of %s keeps failing on the target (%d sync error(s) so far) and starts again every few seconds; the error is in the target server's log (search for \"logical replication table synchronization\")",
			strings.Join(names, ", "), h.SyncErrors)
	}
	return out
}

// tableStall is the stall of a group whose tables' copy keeps failing. The
// usual cause is rows the target table has already: most often another
// group replicates the same table, and then the stall names that group.
func tableStall(ctx context.Context, src, tgt *pgx.Conn, g group.Group, tables []pg.Name, h replication.Health) (*Stall, error) {
	st := &Stall{Reason: h.Reason,
		Hint: "fix the cause on the target (rows the table has already, a missing column): the copy starts again by itself and nothing is lost"}
	if src == nil {
		return st, nil
	}
	others, err := otherGroups(ctx, src, tgt, g, tables)
	if err != nil || len(others) == 0 {
		return st, err
	}
	st.Hint = fmt.Sprintf("%s: a table belongs to one group, and the second copy fails on the first one's rows; stop this group (pgvecrep stop_sync -g %s) or the other, and choose its tables with -t or -e",
		strings.Join(others, "; "), g.Name)
	return st, nil
}

// otherPublicationsQuery finds the other pgvecrep publications on the
// source ($1 is the group's own) that have one of the tables ($2 schemas,
// $3 names).
const otherPublicationsQuery = `SELECT p.pubname::text, p.schemaname::text, p.tablename::text
FROM pg_publication_tables p JOIN unnest($2::text[], $3::text[]) u(s, n) ON p.schemaname = u.s AND p.tablename = u.n
WHERE p.pubname LIKE 'pgvecrep\_%' AND p.pubname <> ALL ($1) ORDER BY 1, 2, 3`

// otherGroups says, for each of tables another pgvecrep group publishes,
// which group that is.
func otherGroups(ctx context.Context, src, tgt *pgx.Conn, g group.Group, tables []pg.Name) ([]string, error) {
	byObject := map[string]string{}
	names, err := group.List(ctx, tgt)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		byObject[group.ObjectName(n)] = "group " + n
	}
	schemas, rels := make([]string, len(tables)), make([]string, len(tables))
	for i, t := range tables {
		schemas[i], rels[i] = t.Schema, t.Name
	}
	rows, err := src.Query(ctx, otherPublicationsQuery, g.StreamNames(), schemas, rels)
	if err != nil {
		return nil, fmt.Errorf("look for other groups of the stalled tables: %w", err)
	}
	var pub string
	var t pg.Name
	var out []string
	_, err = pgx.ForEachRow(rows, []any{&pub, &t.Schema, &t.Name}, func() error {
		who := byObject[pub]
		if who == "" {
			who = byObject[group.StreamBase(pub)]
		}
		if who == "" {
			who = "publication " + pub
		}
		out = append(out, fmt.Sprintf("%s is replicated by %s already", t, who))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look for other groups of the stalled tables: %w", err)
	}
	return out, nil
}

// writeHealth prints the stall and the DDL status, when there is any.
func (r Report) writeHealth(w io.Writer) {
	if s := r.Stall; s != nil {
		fmt.Fprintf(w, "stalled: %s\n", s.Reason)
		if s.Statement != "" {
			fmt.Fprintf(w, "statement: %s\n", s.Statement)
		}
		if s.Since != nil {
			fmt.Fprintf(w, "since: %s\n", s.Since.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "hint: %s\n", s.Hint)
	}
	d := r.DDL
	if d == nil {
		return
	}
	var parts []string
	if d.Pending > 0 {
		parts = append(parts, fmt.Sprintf("%d change(s) on their way", d.Pending))
	}
	if d.Recorded > 0 {
		parts = append(parts, fmt.Sprintf("%d recorded, to apply with apply_ddl_change", d.Recorded))
	}
	if len(d.DeferredIndexes) > 0 {
		parts = append(parts, "vector index(es) to build with apply_ddl_change: "+strings.Join(d.DeferredIndexes, ", "))
	}
	if len(d.NewTables) > 0 {
		parts = append(parts, "new table(s) to subscribe with apply_ddl_change: "+strings.Join(d.NewTables, ", "))
	}
	if len(d.Unreplicated) > 0 {
		parts = append(parts, "table(s) without a key, NOT replicated (add a primary key or REPLICA IDENTITY FULL on the source, then apply_ddl_change): "+strings.Join(d.Unreplicated, ", "))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "ddl: %s\n", strings.Join(parts, "; "))
	}
}
