package pg

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Name is a schema-qualified relation name.
type Name struct {
	Schema string
	Name   string
}

// Quoted is the name as SQL: "schema"."name", always quoted.
func (n Name) Quoted() string { return pgx.Identifier{n.Schema, n.Name}.Sanitize() }

// String is the name as a person reads it: schema.name, quoted only where needed.
func (n Name) String() string { return QuoteIfNeeded(n.Schema) + "." + QuoteIfNeeded(n.Name) }

// QuoteIfNeeded quotes an identifier only when PostgreSQL would need quotes.
func QuoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for i, r := range s {
		lowerOK := r == '_' || (r >= 'a' && r <= 'z') || r >= utf8.RuneSelf
		if !(lowerOK || (i > 0 && (r >= '0' && r <= '9' || r == '$'))) {
			return pgx.Identifier{s}.Sanitize()
		}
	}
	return s
}

// ParseName parses a possibly schema-qualified, possibly quoted table name as a
// user types it on the command line: users, public.users, "My Schema"."Odd ""T""".
// Unquoted parts are folded to lower case as PostgreSQL does; a missing schema is
// defaultSchema.
func ParseName(s, defaultSchema string) (Name, error) {
	parts, err := splitIdent(strings.TrimSpace(s))
	if err != nil {
		return Name{}, fmt.Errorf("table name %q: %w", s, err)
	}
	switch len(parts) {
	case 1:
		return Name{Schema: defaultSchema, Name: parts[0]}, nil
	case 2:
		return Name{Schema: parts[0], Name: parts[1]}, nil
	default:
		return Name{}, fmt.Errorf("table name %q: expected table or schema.table", s)
	}
}

func splitIdent(s string) ([]string, error) {
	var parts []string
	for len(s) > 0 {
		var part string
		if s[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i++
						continue
					}
					break
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quoted identifier")
			}
			part, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			part, s = strings.ToLower(s[:end]), s[end:]
			if strings.ContainsRune(part, '"') {
				return nil, fmt.Errorf("misplaced quote")
			}
		}
		if part == "" {
			return nil, fmt.Errorf("empty identifier")
		}
		parts = append(parts, part)
		if len(s) > 0 {
			if s[0] != '.' || len(s) == 1 {
				return nil, fmt.Errorf("unexpected %q", s)
			}
			s = s[1:]
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("empty name")
	}
	return parts, nil
}

// Literal quotes s as an SQL string literal, for the few statements that take
// no parameters (CREATE SUBSCRIPTION ... CONNECTION).
func Literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
