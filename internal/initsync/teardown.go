package initsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/parallel"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
)

// Teardown undoes a start_sync that did not finish: subscription, slot and
// publication are dropped, the rows copied so far are truncated (preflight had
// found the tables empty), and the deferred indexes are built again on the
// empty tables, so the target looks as it did before the run.
func Teardown(ctx context.Context, src, tgt *pgx.Conn, g group.Group, p event.Sink) error {
	if err := parallel.Detach(ctx, src, tgt, g, p); err != nil {
		return err
	}
	if len(g.Tables) > 0 {
		if _, err := tgt.Exec(ctx, "TRUNCATE "+strings.Join(catalog.QuotedNames(g.Tables), ", ")); err != nil {
			return fmt.Errorf("empty the partly copied tables on the target: %w", err)
		}
	}
	return postdata.RestoreDeferred(ctx, tgt, g.Name, p)
}

// reconnect replaces a closed connection before the rollback uses it. A
// Ctrl-C that lands while a statement runs makes pgx close the connection
// that ran it (a cancelled statement leaves the session in an unknown
// state), and a rollback on it would fail at its first statement, leaving
// the slot, the publication and the deferred indexes behind. The group's
// lock went with a closed target session, so it is claimed again on the new
// one: if another pgvecrep took the group meanwhile, this run leaves it
// alone. done closes the connections reconnect opened (and, with the
// target's, releases the lock); the caller's closed ones stay as they are.
func (s *syncer) reconnect(ctx context.Context) (done func(), err error) {
	var opened []*pgx.Conn
	done = func() {
		for _, c := range opened {
			c.Close(context.WithoutCancel(ctx))
		}
	}
	open := func(conn **pgx.Conn, role pg.Role, cfg *pgx.ConnConfig) error {
		if !(*conn).IsClosed() {
			return nil
		}
		if cfg == nil {
			return fmt.Errorf("reconnect to the %s: its connection was closed and no config was given", role)
		}
		c, err := pg.ConnectConfig(ctx, role, cfg)
		if err != nil {
			return fmt.Errorf("reconnect to the %s: %w", role, err)
		}
		opened = append(opened, c)
		old := (*conn).PgConn().PID()
		*conn = c
		if role == pg.Target {
			return s.reclaim(ctx, c, old)
		}
		return nil
	}
	if err := open(&s.src, pg.Source, s.opts.Source); err != nil {
		return done, err
	}
	if err := open(&s.tgt, pg.Target, s.opts.Target); err != nil {
		return done, err
	}
	if len(opened) > 0 {
		s.say(event.Undo, "the rollback reconnected: a connection was closed when the run stopped")
	}
	return done, nil
}

// reclaim takes the group's lock on the new target connection once the
// closed one's session has let it go: pgx closes its socket at once, but
// the server ends the session only when it notices (group.EndHolder).
func (s *syncer) reclaim(ctx context.Context, conn *pgx.Conn, oldPID uint32) error {
	if err := group.EndHolder(ctx, conn, s.opts.Group, oldPID); err != nil {
		return fmt.Errorf("end the closed connection's session on the target: %w", err)
	}
	return group.Claim(ctx, conn, s.opts.Group)
}
