package pg

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Keywords reads a connection string, a postgres:// URL or a keyword=value
// string, into libpq's keywords (user, password, host, port, dbname and the
// URL's query parameters), values unescaped. It is for what pgx.ParseConfig
// does not give back as written: the settings to hand to a libpq child
// process, and whether the string itself holds a password. A URL may list
// hosts as libpq allows (h1:5432,h2:5432), which net/url refuses. Errors
// never quote the string: it may hold a password.
func Keywords(conn string) (map[string]string, error) {
	lower := strings.ToLower(conn)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return urlKeywords(conn)
	}
	return keywordPairs(conn)
}

// HasPassword reports whether a connection string itself (not the
// environment or a passfile) carries a password, in either of libpq's forms.
// A string Keywords cannot read counts as carrying one when it mentions a
// password at all: callers leave such a string out of what they print.
func HasPassword(conn string) bool {
	if _, _, _, ok := passwordSpan(conn); ok {
		return true
	}
	kv, err := Keywords(conn)
	if err != nil {
		return strings.Contains(strings.ToLower(conn), "password")
	}
	_, ok := kv["password"]
	return ok
}

func urlKeywords(conn string) (map[string]string, error) {
	scheme, rest, _ := strings.Cut(conn, "://")
	// The authority ends where the path or the query starts; its hosts are
	// after the last '@' in it. net/url gets one placeholder host, so that
	// it still checks and unescapes the rest.
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	auth, tail := rest[:end], rest[end:]
	hostList := auth
	userinfo := ""
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		userinfo, hostList = auth[:at+1], auth[at+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "h" + tail)
	if err != nil {
		return nil, fmt.Errorf("parse connection URL: %s", urlErrorText(err))
	}
	kv := map[string]string{}
	if u.User != nil {
		kv["user"] = u.User.Username()
		if p, ok := u.User.Password(); ok {
			kv["password"] = p
		}
	}
	var hosts, ports []string
	for _, hp := range strings.Split(hostList, ",") {
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

// urlErrorText keeps url.Parse's complaint without the URL it quotes.
func urlErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "malformed URL"
}

// keywordPairs reads "host=h port=5432 password='a b'" with libpq's quoting.
func keywordPairs(s string) (map[string]string, error) {
	kv := map[string]string{}
	for s = strings.TrimLeft(s, " \t\n"); s != ""; s = strings.TrimLeft(s, " \t\n") {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New("parse connection string: a keyword without \"=\"")
		}
		key := strings.TrimSpace(s[:eq])
		if key == "" || strings.ContainsAny(key, " \t\n'") {
			return nil, errors.New("parse connection string: malformed keyword")
		}
		val, n, err := keywordValue(strings.TrimLeft(s[eq+1:], " \t\n"))
		if err != nil {
			return nil, fmt.Errorf("parse connection string: %w in the value of %s", err, key)
		}
		kv[key] = val
		s = strings.TrimLeft(s[eq+1:], " \t\n")[n:]
	}
	return kv, nil
}

// keywordValue reads one value at the start of s, bare or single-quoted,
// backslash escaping the next character; n is how much of s it took.
func keywordValue(s string) (val string, n int, err error) {
	var b strings.Builder
	quoted := strings.HasPrefix(s, "'")
	i := 0
	if quoted {
		i = 1
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			b.WriteByte(s[i])
			continue
		}
		if (quoted && c == '\'') || (!quoted && (c == ' ' || c == '\t' || c == '\n')) {
			break
		}
		b.WriteByte(c)
	}
	if quoted {
		if i >= len(s) {
			return "", 0, errors.New("unterminated quote")
		}
		i++
	}
	return b.String(), i, nil
}
