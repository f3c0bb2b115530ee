package preflight

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// privileges: pgvecrep creates publications, slots and subscriptions, which
// takes a superuser, or on managed services a member of the provider's
// stand-in role (--special-user-role, e.g. rds_superuser).
func (c *checker) privileges(ctx context.Context) {
	c.userPrivileges(ctx, pg.Source, c.src, c.sf)
	c.userPrivileges(ctx, pg.Target, c.tgt, c.tf)
	c.replication(ctx)
}

func (c *checker) userPrivileges(ctx context.Context, role pg.Role, conn *pgx.Conn, f pg.Facts) {
	member := false
	if !f.Superuser && c.o.SpecialUserRole != "" {
		m, err := pg.MemberOf(ctx, conn, c.o.SpecialUserRole)
		if err != nil {
			c.broken(string(role)+"_privileges", fmt.Errorf("check membership of role %q on the %s: %w", c.o.SpecialUserRole, role, err))
			return
		}
		member = m
	}
	c.add(privilegesFinding(role, f, c.o.SpecialUserRole, member))
}

func privilegesFinding(role pg.Role, f pg.Facts, special string, member bool) Finding {
	out := Finding{Check: string(role) + "_privileges", Status: StatusOK}
	user := pg.QuoteIfNeeded(f.User)
	switch {
	case f.Superuser:
		out.Detail = fmt.Sprintf("%s user %s is a superuser", role, user)
	case special == "":
		out.Status = StatusError
		out.Detail = fmt.Sprintf("%s user %s is not a superuser", role, user)
		out.Hint = fmt.Sprintf("connect to the %s as a superuser, or pass --special-user-role with the role that stands in for one (e.g. rds_superuser) and that %s belongs to", role, user)
	case !member:
		out.Status = StatusError
		out.Detail = fmt.Sprintf("%s user %s is neither a superuser nor a member of %s", role, user, pg.QuoteIfNeeded(special))
		out.Hint = fmt.Sprintf("run GRANT %s TO %s on the %s, or connect as a superuser",
			pgx.Identifier{special}.Sanitize(), pgx.Identifier{f.User}.Sanitize(), role)
	case role == pg.Target && f.Major() < 16:
		out.Status = StatusWarn
		out.Detail = fmt.Sprintf("target user %s is a member of %s but not a superuser; on PostgreSQL %d only a superuser may CREATE SUBSCRIPTION unless the provider grants it through that role",
			user, pg.QuoteIfNeeded(special), f.Major())
		out.Hint = "if start_sync fails to create the subscription, connect to the target as a superuser"
	default:
		out.Detail = fmt.Sprintf("%s user %s is a member of %s", role, user, pg.QuoteIfNeeded(special))
	}
	return out
}

const replicationQuery = `
SELECT coalesce((SELECT rolreplication FROM pg_roles WHERE rolname = current_user), false),
       coalesce((SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = $1), false)`

// replication: creating a slot takes a replication connection, which takes
// the REPLICATION attribute (or superuser). Attributes are not inherited
// through role membership in PostgreSQL itself; some providers grant
// replication through a role anyway (rds_replication), hence a warning only.
func (c *checker) replication(ctx context.Context) {
	if c.sf.Superuser {
		return
	}
	var userRepl, roleRepl bool
	err := c.src.QueryRow(ctx, replicationQuery, c.o.SpecialUserRole).Scan(&userRepl, &roleRepl)
	if err != nil {
		c.broken("source_replication", fmt.Errorf("read replication attributes on the source: %w", err))
		return
	}
	c.add(replicationFinding(c.sf.User, c.o.SpecialUserRole, userRepl, roleRepl))
}

func replicationFinding(user, special string, userRepl, roleRepl bool) Finding {
	f := Finding{Check: "source_replication", Status: StatusOK}
	h := fmt.Sprintf("run ALTER ROLE %s REPLICATION on the source, or connect as a superuser", pgx.Identifier{user}.Sanitize())
	switch {
	case userRepl:
		f.Detail = fmt.Sprintf("source user %s has the REPLICATION attribute", pg.QuoteIfNeeded(user))
	case roleRepl && special != "":
		f.Status = StatusWarn
		f.Detail = fmt.Sprintf("source user %s has no REPLICATION attribute of its own; role %s has one, but PostgreSQL does not inherit it (some providers do)",
			pg.QuoteIfNeeded(user), pg.QuoteIfNeeded(special))
		f.Hint = h
	default:
		f.Status = StatusError
		f.Detail = fmt.Sprintf("source user %s may not create replication slots: it is not a superuser and has no REPLICATION attribute", pg.QuoteIfNeeded(user))
		f.Hint = h
	}
	return f
}
