package switchover

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// matviewsQuery lists the materialized views in the schemas of the tables
// ($1), each after every materialized view it reads from: depth is the
// longest chain of materialized views below it.
const matviewsQuery = `
WITH RECURSIVE mv AS (
  SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'm'
    AND c.relnamespace IN (SELECT relnamespace FROM pg_class WHERE oid = ANY ($1::regclass[]))),
uses AS (  -- matview oid -> matview it reads from, through its rewrite rule
  SELECT DISTINCT r.ev_class AS oid, d.refobjid AS used
  FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
  JOIN pg_class u ON u.oid = d.refobjid AND u.relkind = 'm'
  WHERE r.ev_class IN (SELECT oid FROM mv) AND d.refobjid <> r.ev_class),
depth AS (
  SELECT oid, 0 AS d FROM mv
  UNION ALL
  SELECT u.oid, depth.d + 1 FROM uses u JOIN depth ON depth.oid = u.used WHERE depth.d < 100)
SELECT mv.name FROM mv JOIN depth USING (oid) GROUP BY mv.name ORDER BY max(depth.d), mv.name`

// RefreshMatviews refreshes, on the target, every materialized view in the
// replicated schemas, in dependency order. Logical replication carries
// table rows only, so until now a materialized view on the target held what
// it held when it was created (or nothing, as pg_dump creates them). It
// runs after the detach, so it sees every drained row and does not lengthen
// the write freeze; a failure leaves the switchover done and says what to run.
func RefreshMatviews(ctx context.Context, tgt *pgx.Conn, tables []pg.Name, events event.Sink) ([]string, error) {
	names, err := pg.Strings(ctx, tgt, matviewsQuery, catalog.QuotedNames(tables))
	if err != nil {
		return nil, fmt.Errorf("list materialized views on the target: %w", err)
	}
	var done []string
	for _, mv := range names {
		events.Emit(event.Event{Phase: event.Finish, Table: mv, Message: "REFRESH MATERIALIZED VIEW " + mv})
		if _, err := tgt.Exec(ctx, "REFRESH MATERIALIZED VIEW "+mv); err != nil {
			return done, hint.Wrap(fmt.Errorf("refresh materialized view %s on the target: %w", mv, err),
				fmt.Sprintf("the switchover itself is complete; fix the cause and run REFRESH MATERIALIZED VIEW %s on the target (and those after it)", mv))
		}
		done = append(done, mv)
	}
	return done, nil
}
