// Package pg is pgvecrep's thin layer over pgx: connecting with errors a user
// can act on (and never a password in them), replication connections,
// identifiers, and facts about a server.
package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// Role names which side a connection is for, so errors can say which URL to fix.
type Role string

const (
	Source Role = "source"
	Target Role = "target"
)

// EnvVar is the environment variable that holds the role's URL.
func (r Role) EnvVar() string {
	if r == Source {
		return "SOURCE_DB_URL"
	}
	return "TARGET_DB_URL"
}

// Flag is the command-line flag that overrides EnvVar.
func (r Role) Flag() string { return "--" + string(r) + "-url" }

// ParseConfig parses a URL or keyword/value string the way libpq does
// (environment variables, .pgpass and sslmode included).
func ParseConfig(role Role, url string) (*pgx.ConnConfig, error) {
	if strings.TrimSpace(url) == "" {
		return nil, hint.New(fmt.Sprintf("no %s database URL", role),
			fmt.Sprintf("set %s or pass %s, e.g. %s=postgres://user:password@host:5432/db", role.EnvVar(), role.Flag(), role.EnvVar()))
	}
	pw, _, _, hasPW := passwordSpan(url)
	if bad := unencoded(pw); hasPW && bad != "" {
		return nil, hint.New(fmt.Sprintf("parse %s URL %s: its password has characters a URL must percent-encode: %s", role, MaskURL(url), bad),
			fmt.Sprintf("percent-encode them in %s: @ as %%40, # as %%23, / as %%2F, ? as %%3F, %% as %%25 (or use a keyword/value string: host=... password=...)", role.EnvVar()))
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		msg := Redact(Redact(errText(err), url), pw)
		return nil, hint.Wrap(fmt.Errorf("parse %s URL: %s", role, MaskURL(msg)),
			fmt.Sprintf("check %s; expected postgres://user:password@host:port/dbname, special characters in the password percent-encoded", role.EnvVar()))
	}
	return cfg, nil
}

// ConnectConfig opens a connection from a parsed config.
func ConnectConfig(ctx context.Context, role Role, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, ConnectError(role, cfg.Config, err)
	}
	return conn, nil
}

// ConnectError turns a connection failure into one line with a hint.
func ConnectError(role Role, cfg pgconn.Config, err error) error {
	where := fmt.Sprintf("%s database %q at %s:%d as %q", role, cfg.Database, cfg.Host, cfg.Port, cfg.User)
	msg := fmt.Sprintf("connect to %s: %s", where, Redact(errText(err), cfg.Password))
	var pgErr *pgconn.PgError
	var netErr *net.OpError
	h := fmt.Sprintf("check %s (or %s)", role.EnvVar(), role.Flag())
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "28P01":
		h = fmt.Sprintf("the password for user %q was rejected; fix it in %s or ~/.pgpass", cfg.User, role.EnvVar())
	case errors.As(err, &pgErr) && pgErr.Code == "3D000":
		h = fmt.Sprintf("database %q does not exist on the %s server; create it or fix the path in %s", cfg.Database, role, role.EnvVar())
	case errors.As(err, &pgErr) && pgErr.Code == "28000":
		h = "the server refused this user or address (pg_hba.conf); ask the server's admin to allow it"
	case tlsHint(role, cfg.Host, err) != "":
		h = tlsHint(role, cfg.Host, err)
	case errors.As(err, &netErr), strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		h = fmt.Sprintf("is the %s server running and reachable at %s:%d? check the host and port in %s", role, cfg.Host, cfg.Port, role.EnvVar())
	}
	return hint.Wrap(errors.New(msg), h)
}

// errText is the innermost useful message of a connection error, on one
// line. pgx reports each address it tried on a line of its own, often the
// same text twice, and wraps a refused dial in three layers of addresses
// that the caller's message already names; one copy of the cause is enough.
func errText(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	text := err.Error()
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		text = ce.Unwrap().Error()
	}
	var lines []string
	seen := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// Redact removes every occurrence of secret from s.
func Redact(s, secret string) string {
	if secret == "" || len(secret) < 2 {
		return s
	}
	return strings.ReplaceAll(s, secret, "xxxxx")
}

// ReplicationConfig is cfg with replication=database, for slot commands.
func ReplicationConfig(cfg *pgx.ConnConfig) *pgconn.Config {
	c := cfg.Config.Copy()
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	c.RuntimeParams["replication"] = "database"
	return c
}

// Code returns err's SQLSTATE, or "".
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
