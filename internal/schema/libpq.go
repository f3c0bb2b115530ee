package schema

import (
	"fmt"
	"os"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// libpqVars maps connection keywords to the libpq environment variables
// that carry them, so pg_dump gets the URL's settings exactly as the user
// wrote them (sslmode, sslrootcert, target_session_attrs, ...).
var libpqVars = map[string]string{
	"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
	"user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE", "service": "PGSERVICE",
	"options": "PGOPTIONS", "application_name": "PGAPPNAME", "connect_timeout": "PGCONNECT_TIMEOUT",
	"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
	"sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR", "sslsni": "PGSSLSNI", "sslcertmode": "PGSSLCERTMODE",
	"sslnegotiation": "PGSSLNEGOTIATION", "requiressl": "PGREQUIRESSL", "gssencmode": "PGGSSENCMODE",
	"krbsrvname": "PGKRBSRVNAME", "channel_binding": "PGCHANNELBINDING", "require_auth": "PGREQUIREAUTH",
	"target_session_attrs": "PGTARGETSESSIONATTRS", "load_balance_hosts": "PGLOADBALANCEHOSTS",
	"ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION", "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
}

// urlVars are pgvecrep's own variables: a child process needs none of them.
var urlVars = []string{"SOURCE_DB_URL", "TARGET_DB_URL", "SECONDARY_SOURCE_DB_URL"}

// ChildEnv is the environment for pg_dump and pg_restore: the parent's,
// without pgvecrep's URL variables, plus the connection settings of dsn as
// libpq variables. The password thus never appears in a process's
// arguments. dsn is a postgres:// URL or a keyword=value string. Keywords
// libpq does not know (pgx's own, like pool_max_conns) are left out, except
// that server settings pgx would send at startup go through PGOPTIONS.
func ChildEnv(dsn string, parent []string) ([]string, error) {
	kv, err := pg.Keywords(dsn)
	if err != nil {
		return nil, fmt.Errorf("read the source URL for pg_dump: %w", err)
	}
	var env []string
	for _, v := range parent {
		name, _, _ := strings.Cut(v, "=")
		if !isURLVar(name) {
			env = append(env, v)
		}
	}
	var opts []string
	if o := kv["options"]; o != "" {
		opts = append(opts, o)
	}
	for k, v := range kv {
		switch name, ok := libpqVars[k]; {
		case ok && k != "options":
			env = append(env, name+"="+v)
		case !ok && !pgxOnly(k):
			opts = append(opts, "-c "+optionEscape(k+"="+v))
		}
	}
	if len(opts) > 0 {
		env = append(env, "PGOPTIONS="+strings.Join(opts, " "))
	}
	return env, nil
}

func isURLVar(name string) bool {
	for _, u := range urlVars {
		if name == u {
			return true
		}
	}
	return false
}

// pgxOnly are keywords pgx reads itself and never sends to the server.
func pgxOnly(k string) bool {
	for _, p := range []string{"pool_", "statement_cache_", "description_cache_", "default_query_exec_mode",
		"min_read_buffer_size", "servicefile"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// optionEscape escapes spaces and backslashes as PGOPTIONS wants them.
func optionEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, " ", `\ `).Replace(s)
}

// childEnv is ChildEnv over this process's environment.
func childEnv(dsn string) ([]string, error) { return ChildEnv(dsn, os.Environ()) }
