package pg

import (
	"strings"
)

// Mask is what a password becomes in anything pgvecrep prints.
const Mask = "xxxxx"

// urlPassword finds the password in a postgres:// URL the way a person wrote
// it, before any parsing: everything between the first ':' after the scheme
// and the last '@'. A URL parser stops at an unencoded '#', '?' or '/' and
// then shows the rest of the password as host, path or query in its errors,
// so pgvecrep looks for it first. The start and end are byte offsets in s.
func passwordSpan(s string) (pw string, start, end int, ok bool) {
	lower := strings.ToLower(s)
	var rest int
	switch {
	case strings.HasPrefix(lower, "postgres://"):
		rest = len("postgres://")
	case strings.HasPrefix(lower, "postgresql://"):
		rest = len("postgresql://")
	default:
		return "", 0, 0, false
	}
	at := strings.LastIndex(s[rest:], "@")
	if at < 0 {
		return "", 0, 0, false
	}
	colon := strings.Index(s[rest:rest+at], ":")
	if colon < 0 {
		return "", 0, 0, false
	}
	start, end = rest+colon+1, rest+at
	return s[start:end], start, end, true
}

// MaskURL returns s with its password replaced by Mask, whatever characters
// the password holds; a keyword/value string has its password= value masked.
func MaskURL(s string) string {
	if _, start, end, ok := passwordSpan(s); ok {
		return s[:start] + Mask + s[end:]
	}
	return conninfoPassword.ReplaceAllString(s, "${1}"+Mask)
}

// unencoded lists the characters of a URL's password that must be
// percent-encoded: '@', '#', '/', '?', and '%' not followed by two hex digits.
func unencoded(pw string) string {
	var out []string
	seen := map[string]bool{}
	for i := 0; i < len(pw); i++ {
		c := string(pw[i])
		bad := strings.Contains("@#/?", c) || c == "%" && !(i+2 < len(pw) && isHex(pw[i+1]) && isHex(pw[i+2]))
		if bad && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return strings.Join(out, " ")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
