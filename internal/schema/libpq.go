package schema

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
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
	kv, err := parseDSN(dsn)
	if err != nil {
		return nil, err
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

// parseDSN reads a postgres:// URL or a keyword=value string into keywords.
func parseDSN(dsn string) (map[string]string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return parseURL(dsn)
	}
	return parseKeywords(dsn)
}

func parseURL(dsn string) (map[string]string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse source URL: %s", redactURLError(err))
	}
	kv := map[string]string{}
	if u.User != nil {
		kv["user"] = u.User.Username()
		if p, ok := u.User.Password(); ok {
			kv["password"] = p
		}
	}
	var hosts, ports []string
	for _, hp := range strings.Split(u.Host, ",") {
		if hp == "" {
			continue
		}
		h, p := hp, ""
		if i := strings.LastIndex(hp, ":"); i >= 0 && !strings.HasSuffix(hp, "]") {
			h, p = hp[:i], hp[i+1:]
		}
		hosts = append(hosts, strings.Trim(h, "[]"))
		ports = append(ports, p)
	}
	if len(hosts) > 0 {
		kv["host"] = strings.Join(hosts, ",")
	}
	if strings.Join(ports, "") != "" {
		kv["port"] = strings.Join(ports, ",")
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		kv["dbname"] = db
	}
	for k, vs := range u.Query() {
		if len(vs) > 0 {
			kv[k] = vs[len(vs)-1]
		}
	}
	return kv, nil
}

// redactURLError keeps url.Parse's complaint without the URL it quotes.
func redactURLError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return "malformed URL"
}

// parseKeywords reads "host=h port=5432 password='a b'" with libpq's quoting.
func parseKeywords(s string) (map[string]string, error) {
	kv := map[string]string{}
	for s = strings.TrimLeft(s, " \t\n"); s != ""; s = strings.TrimLeft(s, " \t\n") {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New("parse source connection string: a keyword without \"=\"")
		}
		key := strings.TrimSpace(s[:eq])
		if key == "" || strings.ContainsAny(key, " \t\n'") {
			return nil, fmt.Errorf("parse source connection string: malformed keyword")
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n")
		var val strings.Builder
		quoted := strings.HasPrefix(s, "'")
		if quoted {
			s = s[1:]
		}
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				val.WriteByte(s[i])
				continue
			}
			if (quoted && c == '\'') || (!quoted && (c == ' ' || c == '\t' || c == '\n')) {
				break
			}
			val.WriteByte(c)
		}
		if quoted && i >= len(s) {
			return nil, fmt.Errorf("parse source connection string: unterminated quote in the value of %s", key)
		}
		if quoted {
			i++
		}
		kv[key] = val.String()
		s = s[i:]
	}
	return kv, nil
}

// childEnv is ChildEnv over this process's environment.
func childEnv(dsn string) ([]string, error) { return ChildEnv(dsn, os.Environ()) }
