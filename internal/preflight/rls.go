package preflight

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// rlsActiveQuery names the tables ($1, quoted names; missing ones ignored)
// whose row-level security policies apply to the connected user. It is
// false for a superuser, a BYPASSRLS role, and the table's owner unless the
// table has FORCE ROW LEVEL SECURITY: exactly when the server filters.
const rlsActiveQuery = `SELECT format('%I.%I', n.nspname, c.relname)
FROM unnest($1::text[]) q JOIN pg_class c ON c.oid = to_regclass(q)
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relrowsecurity AND row_security_active(c.oid) ORDER BY 1`

// rowSecurity: on the source, policies that apply to the user would make the
// initial copy read (and so replicate) only the rows they let through, with
// no error. On the target they make COPY FROM fail ("not supported with
// row-level security") and the apply worker stop, so a sync would stop half
// way. Both are caught here, before anything is created.
func (c *checker) rowSecurity(ctx context.Context) {
	ts := c.report.Tables
	if len(ts) == 0 {
		return
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name.Quoted()
	}
	src, err := rlsActive(ctx, c.src, names)
	if err != nil {
		c.broken("row_security", fmt.Errorf("check row-level security on the source: %w", err))
		return
	}
	tgt, err := rlsActive(ctx, c.tgt, names)
	if err != nil {
		c.broken("row_security", fmt.Errorf("check row-level security on the target: %w", err))
		return
	}
	for _, n := range src {
		c.add(Finding{Check: "row_security", Status: StatusError,
			Detail: fmt.Sprintf("row-level security applies to source user %s on table %s: the copy would silently miss the rows its policies hide", pg.QuoteIfNeeded(c.sf.User), n),
			Hint:   fmt.Sprintf("connect to the source as the table's owner, a superuser, or a role with BYPASSRLS (ALTER ROLE %s BYPASSRLS)", pgx.Identifier{c.sf.User}.Sanitize())})
	}
	for _, n := range tgt {
		c.add(Finding{Check: "row_security", Status: StatusError,
			Detail: fmt.Sprintf("row-level security applies to target user %s on table %s: the copy into it would fail", pg.QuoteIfNeeded(c.tf.User), n),
			Hint:   fmt.Sprintf("connect to the target as a superuser or a role with BYPASSRLS, or as the owner after ALTER TABLE %s NO FORCE ROW LEVEL SECURITY", n)})
	}
	if len(src)+len(tgt) == 0 {
		c.ok("row_security", "no row-level security policy applies to the copy on either side")
	}
}

func rlsActive(ctx context.Context, conn *pgx.Conn, names []string) ([]string, error) {
	return pg.Strings(ctx, conn, rlsActiveQuery, names)
}
