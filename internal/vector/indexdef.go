package vector

import "strings"

// IndexTable reads the table an index definition builds on, as
// pg_get_indexdef prints it: CREATE [UNIQUE] INDEX name ON [ONLY]
// schema.table USING ...; it returns the table as written there (quoted
// where PostgreSQL quotes it, so it reads back as a regclass), or "" when
// the definition has another shape.
func IndexTable(def string) string {
	rest, ok := strings.CutPrefix(def, "CREATE ")
	if !ok {
		return ""
	}
	rest, _ = strings.CutPrefix(rest, "UNIQUE ")
	if rest, ok = strings.CutPrefix(rest, "INDEX "); !ok {
		return ""
	}
	if _, rest = identifier(rest); rest == "" {
		return ""
	}
	if rest, ok = strings.CutPrefix(rest, " ON "); !ok {
		return ""
	}
	rest, _ = strings.CutPrefix(rest, "ONLY ")
	schema, after := identifier(rest)
	if schema == "" || !strings.HasPrefix(after, ".") {
		return ""
	}
	name, after := identifier(after[1:])
	if name == "" || !strings.HasPrefix(after, " USING ") {
		return ""
	}
	return schema + "." + name
}

// identifier splits an SQL identifier off the front of s: a double-quoted
// one (with "" for a quote inside) or a bare one, which ends at a space, a
// dot or a parenthesis. It returns "" when s starts with neither.
func identifier(s string) (id, rest string) {
	if strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			if s[i] != '"' {
				continue
			}
			if i+1 < len(s) && s[i+1] == '"' {
				i++
				continue
			}
			return s[:i+1], s[i+1:]
		}
		return "", s
	}
	end := strings.IndexAny(s, " .(")
	if end < 0 {
		end = len(s)
	}
	return s[:end], s[end:]
}
