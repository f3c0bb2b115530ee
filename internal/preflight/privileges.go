package preflight

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// privileges: pgvecrep needs capabilities, not a superuser. On the source:
// the REPLICATION attribute for the slot, CREATE on the database for the
// publication and the freeze function's schema, and, per table (see
// tablePrivileges), ownership for the publication and the freeze trigger and
// SELECT for the copy; what managed services give an application role. On
// the target: CREATE SUBSCRIPTION, which PostgreSQL 15 allows only a
// superuser and 16+ also members of pg_create_subscription with CREATE on
// the database. A superuser has them all. --special-user-role is kept for
// pg_easy_replicate users: it is reported, but the capabilities decide.
func (c *checker) privileges(ctx context.Context) {
	c.userPrivileges(ctx, pg.Source, c.src, c.sf)
	c.userPrivileges(ctx, pg.Target, c.tgt, c.tf)
	c.replication(ctx)
	if !c.sf.Superuser {
		c.databaseCreate(ctx, pg.Source, c.src, c.sf, "source_create", "for the publication and the write freeze's schema")
	}
	c.subscription(ctx)
	c.statementLogging(ctx)
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

// privilegesFinding says what the user is; it is never an error by itself,
// since the capability checks after it say what is missing.
func privilegesFinding(role pg.Role, f pg.Facts, special string, member bool) Finding {
	out := Finding{Check: string(role) + "_privileges", Status: StatusOK}
	user := pg.QuoteIfNeeded(f.User)
	switch {
	case f.Superuser:
		out.Detail = fmt.Sprintf("%s user %s is a superuser", role, user)
	case special == "":
		out.Detail = fmt.Sprintf("%s user %s is not a superuser; each capability pgvecrep needs is checked on its own", role, user)
	case !member:
		out.Status = StatusWarn
		out.Detail = fmt.Sprintf("%s user %s is neither a superuser nor a member of %s (--special-user-role)", role, user, pg.QuoteIfNeeded(special))
		out.Hint = fmt.Sprintf("run GRANT %s TO %s on the %s if the provider grants its capabilities through that role, or leave --special-user-role out",
			pgx.Identifier{special}.Sanitize(), pgx.Identifier{f.User}.Sanitize(), role)
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

// databaseCreate checks CREATE on the current database, which CREATE
// PUBLICATION, CREATE SCHEMA and (16+) CREATE SUBSCRIPTION take.
func (c *checker) databaseCreate(ctx context.Context, role pg.Role, conn *pgx.Conn, f pg.Facts, check, why string) {
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT has_database_privilege(current_database(), 'CREATE')`).Scan(&ok); err != nil {
		c.broken(check, fmt.Errorf("read database privileges on the %s: %w", role, err))
		return
	}
	c.add(createFinding(role, f, check, why, ok))
}

func createFinding(role pg.Role, f pg.Facts, check, why string, ok bool) Finding {
	if ok {
		return Finding{Check: check, Status: StatusOK,
			Detail: fmt.Sprintf("%s user %s may CREATE in database %s", role, pg.QuoteIfNeeded(f.User), pg.QuoteIfNeeded(f.Database))}
	}
	return Finding{Check: check, Status: StatusError,
		Detail: fmt.Sprintf("%s user %s may not CREATE in database %s, which it needs %s", role, pg.QuoteIfNeeded(f.User), pg.QuoteIfNeeded(f.Database), why),
		Hint: fmt.Sprintf("run GRANT CREATE ON DATABASE %s TO %s on the %s",
			pgx.Identifier{f.Database}.Sanitize(), pgx.Identifier{f.User}.Sanitize(), role)}
}
