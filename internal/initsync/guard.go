package initsync

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/copier"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Target triggers and row-level security during the fast copy.
//
// The copy writes the source's rows as they are; a user trigger on a target
// table (an audit row, a timestamp set on insert) or a row-level security
// policy must not change them. A superuser's copy sessions run with
// session_replication_role = replica, as the subscription's apply worker
// does, and superusers bypass row-level security, so nothing is needed
// there. Another user cannot set that role, so for each table with user
// triggers that would fire, the job's COPY runs in a transaction that
// disables them, copies, and enables them again before it commits; the same
// for FORCE ROW LEVEL SECURITY, which would subject the owner to its own
// policies (and makes COPY FROM refuse the table).
//
// Why a transaction per job and not one ALTER before the copy and one after:
// the change is then never committed. No other session ever sees the
// triggers off, and a kill -9 at any point rolls it back with the job's
// rows, so neither a rerun nor a rollback has anything to re-enable, and no
// metadata has to remember it. The price is the lock: ALTER TABLE ...
// DISABLE TRIGGER takes a SHARE ROW EXCLUSIVE lock, so the jobs of one such
// table (its ctid ranges) are written one after another. Only tables with
// firing triggers or forced security pay it, only for non-superusers.

const triggersQuery = `
WITH tree AS (SELECT $1::regclass AS relid, 0 AS level
              UNION SELECT relid, level FROM pg_partition_tree($1::regclass))
SELECT n.nspname, c.relname, t.tgname, t.tgenabled::text
FROM (SELECT relid, min(level) AS level FROM tree GROUP BY relid) r
JOIN pg_class c ON c.oid = r.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_trigger t ON t.tgrelid = c.oid
WHERE NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')
ORDER BY r.level, n.nspname, c.relname, t.tgname`

const forcedRLSQuery = `
SELECT c.relrowsecurity AND c.relforcerowsecurity
       AND NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user)
FROM pg_class c WHERE c.oid = $1::regclass`

// guardJobs sets each job's Wrap so that the target's triggers and
// row-level security leave its rows alone (see above). Superusers need none.
func (s *syncer) guardJobs(ctx context.Context, jobs []copier.Job) ([]copier.Job, error) {
	if s.targetSuper {
		return jobs, nil
	}
	wraps := map[pg.Name]*copier.Wrap{}
	for i, j := range jobs {
		dest := j.Dest()
		w, ok := wraps[dest]
		if !ok {
			var err error
			if w, err = targetGuard(ctx, s.tgt, dest); err != nil {
				return nil, err
			}
			wraps[dest] = w
			if w != nil {
				s.ev.Emit(event.Event{Phase: event.Copy, Table: dest.String(), Message: fmt.Sprintf("%s: its user triggers and forced row-level security are set aside inside each copy transaction (the target user is not a superuser)", dest)})
			}
		}
		jobs[i].Wrap = w
	}
	return jobs, nil
}

// targetGuard is the Wrap a copy into dest needs, nil when none.
func targetGuard(ctx context.Context, tgt *pgx.Conn, dest pg.Name) (*copier.Wrap, error) {
	rows, err := tgt.Query(ctx, triggersQuery, dest.Quoted())
	if err != nil {
		return nil, fmt.Errorf("list the triggers on %s on the target: %w", dest, err)
	}
	w := &copier.Wrap{}
	var rel pg.Name
	var name, enabled string
	_, err = pgx.ForEachRow(rows, []any{&rel.Schema, &rel.Name, &name, &enabled}, func() error {
		trg := pgx.Identifier{name}.Sanitize()
		w.Before = append(w.Before, fmt.Sprintf("ALTER TABLE %s DISABLE TRIGGER %s", rel.Quoted(), trg))
		always := map[string]string{"A": "ALWAYS "}[enabled]
		w.After = append(w.After, fmt.Sprintf("ALTER TABLE %s ENABLE %sTRIGGER %s", rel.Quoted(), always, trg))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the triggers on %s on the target: %w", dest, err)
	}
	var forced bool
	if err := tgt.QueryRow(ctx, forcedRLSQuery, dest.Quoted()).Scan(&forced); err != nil {
		return nil, fmt.Errorf("read row-level security of %s on the target: %w", dest, err)
	}
	if forced {
		w.Before = append(w.Before, fmt.Sprintf("ALTER TABLE %s NO FORCE ROW LEVEL SECURITY", dest.Quoted()))
		w.After = append(w.After, fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", dest.Quoted()))
	}
	if len(w.Before) == 0 {
		return nil, nil
	}
	return w, nil
}
