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

// health fills in the subscription's health and the DDL status, and shows
// a streaming group whose apply worker keeps failing as stalled: a group
// must never read STREAMING while nothing is applied.
func health(ctx context.Context, src, tgt *pgx.Conn, g group.Group, r *Report) error {
	h, err := replication.SubscriptionHealth(ctx, tgt, g.ObjectName)
	if err != nil {
		return err
	}
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
	if len(parts) > 0 {
		fmt.Fprintf(w, "ddl: %s\n", strings.Join(parts, "; "))
	}
}
