package preflight

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// subscription: CREATE SUBSCRIPTION takes a superuser on PostgreSQL 15 and
// older; 16+ also lets a member of pg_create_subscription that may CREATE in
// the database. A member of --special-user-role gets a warning on 15 instead
// of an error, as some providers grant it through that role.
func (c *checker) subscription(ctx context.Context) {
	if c.tf.Superuser {
		return
	}
	if c.tf.Major() < 16 {
		special := false
		if c.o.SpecialUserRole != "" {
			m, err := pg.MemberOf(ctx, c.tgt, c.o.SpecialUserRole)
			if err != nil {
				c.broken("target_subscription", fmt.Errorf("check membership of role %q on the target: %w", c.o.SpecialUserRole, err))
				return
			}
			special = m
		}
		c.add(subscriptionFinding(c.tf, special, false))
		return
	}
	var member bool
	err := c.tgt.QueryRow(ctx, `SELECT pg_has_role(current_user, 'pg_create_subscription', 'USAGE')`).Scan(&member)
	if err != nil {
		c.broken("target_subscription", fmt.Errorf("check membership of pg_create_subscription on the target: %w", err))
		return
	}
	c.add(subscriptionFinding(c.tf, false, member))
	c.databaseCreate(ctx, pg.Target, c.tgt, c.tf, "target_create", "for the subscription and the pgvecrep schema")
}

func subscriptionFinding(t pg.Facts, special, member bool) Finding {
	f := Finding{Check: "target_subscription", Status: StatusOK}
	user, id := pg.QuoteIfNeeded(t.User), pgx.Identifier{t.User}.Sanitize()
	switch {
	case t.Major() >= 16 && member:
		f.Detail = fmt.Sprintf("target user %s may create subscriptions (member of pg_create_subscription)", user)
	case t.Major() >= 16:
		f.Status = StatusError
		f.Detail = fmt.Sprintf("target user %s may not CREATE SUBSCRIPTION: it is neither a superuser nor a member of pg_create_subscription", user)
		f.Hint = fmt.Sprintf("run GRANT pg_create_subscription TO %s on the target", id)
	case special:
		f.Status = StatusWarn
		f.Detail = fmt.Sprintf("target user %s is not a superuser; on PostgreSQL %d only a superuser may CREATE SUBSCRIPTION unless the provider grants it through --special-user-role",
			user, t.Major())
		f.Hint = "if start_sync fails to create the subscription, connect to the target as a superuser"
	default:
		f.Status = StatusError
		f.Detail = fmt.Sprintf("target user %s may not CREATE SUBSCRIPTION: on PostgreSQL %d only a superuser may", user, t.Major())
		f.Hint = fmt.Sprintf("run ALTER ROLE %s SUPERUSER on the target, or connect to the target as a superuser (PostgreSQL 16+ also allows GRANT pg_create_subscription)", id)
	}
	return f
}

// statementLogging: CREATE SUBSCRIPTION carries the source's password, and
// the target's server logs the statement when it fails unless pgvecrep may
// turn statement logging off for it (package replication, quietSettings).
func (c *checker) statementLogging(ctx context.Context) {
	if c.tf.Superuser {
		return
	}
	ok, err := replication.CanQuietLog(ctx, c.tgt)
	if err != nil {
		c.broken("target_statement_logging", fmt.Errorf("check SET privileges on logging parameters on the target: %w", err))
		return
	}
	f := Finding{Check: "target_statement_logging", Status: StatusOK,
		Detail: fmt.Sprintf("target user %s may keep CREATE SUBSCRIPTION, and the password in it, out of the server log", pg.QuoteIfNeeded(c.tf.User))}
	if !ok {
		f.Status = StatusWarn
		f.Detail = fmt.Sprintf("target user %s may not turn statement logging off: a failing CREATE SUBSCRIPTION would put the source's password in the target's server log",
			pg.QuoteIfNeeded(c.tf.User))
		f.Hint = fmt.Sprintf("run GRANT SET ON PARAMETER log_statement, log_min_error_statement, log_min_duration_statement TO %s on the target (PostgreSQL 15+), or use a passfile on the target host instead of a password (README, Security)",
			pgx.Identifier{c.tf.User}.Sanitize())
	}
	c.add(f)
}

// tablePrivilegesQuery reads, per table (quoted names in $1), whether the
// user has its owner's privileges and may SELECT from it.
const tablePrivilegesQuery = `
SELECT r.rolname::text, r.rolsuper, pg_has_role(c.relowner, 'USAGE'), has_table_privilege(c.oid, 'SELECT')
FROM unnest($1::text[]) WITH ORDINALITY t(name, i) JOIN pg_class c ON c.oid = t.name::regclass
JOIN pg_roles r ON r.oid = c.relowner ORDER BY t.i`

// tablePrivileges: a FOR TABLE publication and the write freeze's trigger
// take ownership of each table (or membership in its owner), and the copy
// takes SELECT. Each table that lacks one is named with the statement that
// fixes it.
func (c *checker) tablePrivileges(ctx context.Context) {
	ts := c.report.Tables
	if c.sf.Superuser || len(ts) == 0 {
		return
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name.Quoted()
	}
	rows, err := c.src.Query(ctx, tablePrivilegesQuery, names)
	if err != nil {
		c.broken("source_tables_privileges", fmt.Errorf("read table privileges on the source: %w", err))
		return
	}
	type priv struct {
		Owner                   string
		OwnerSuper, Owns, Reads bool
	}
	privs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[priv])
	if err != nil || len(privs) != len(ts) {
		c.broken("source_tables_privileges", fmt.Errorf("read table privileges on the source: %v", err))
		return
	}
	user := pgx.Identifier{c.sf.User}.Sanitize()
	missing := 0
	for i, p := range privs {
		n := ts[i].Name
		if !p.Owns {
			missing++
			h := fmt.Sprintf("run ALTER TABLE %s OWNER TO %s on the source", n.Quoted(), user)
			if !p.OwnerSuper { // membership in a superuser role would give away far more
				h = fmt.Sprintf("run ALTER TABLE %s OWNER TO %s, or GRANT %s TO %s, on the source", n.Quoted(), user, pgx.Identifier{p.Owner}.Sanitize(), user)
			}
			c.add(Finding{Check: "source_table_owner", Status: StatusError,
				Detail: fmt.Sprintf("source user %s does not own table %s (owner %s), which the publication and the write freeze need", pg.QuoteIfNeeded(c.sf.User), n, pg.QuoteIfNeeded(p.Owner)),
				Hint:   h})
		}
		if !p.Reads {
			missing++
			c.add(Finding{Check: "source_table_select", Status: StatusError,
				Detail: fmt.Sprintf("source user %s may not SELECT from table %s, which the copy needs", pg.QuoteIfNeeded(c.sf.User), n),
				Hint:   fmt.Sprintf("run GRANT SELECT ON %s TO %s on the source", n.Quoted(), user)})
		}
	}
	if missing == 0 {
		c.ok("source_tables_privileges", "source user %s owns and may read all %s", pg.QuoteIfNeeded(c.sf.User), plural(len(ts), "selected table"))
	}
}
