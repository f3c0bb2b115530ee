package initsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Teardown undoes a start_sync that did not finish: subscription, slot and
// publication are dropped, the rows copied so far are truncated (preflight had
// found the tables empty), and the deferred indexes are built again on the
// empty tables, so the target looks as it did before the run.
func Teardown(ctx context.Context, src, tgt *pgx.Conn, g group.Group, p *progress.Printer) error {
	if err := replication.Detach(ctx, src, tgt, g.ObjectName, p); err != nil {
		return err
	}
	if len(g.Tables) > 0 {
		if _, err := tgt.Exec(ctx, "TRUNCATE "+strings.Join(g.Tables, ", ")); err != nil {
			return fmt.Errorf("empty the partly copied tables on the target: %w", err)
		}
	}
	return postdata.RestoreDeferred(ctx, tgt, g.Name, p)
}
