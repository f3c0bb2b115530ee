package pg

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactSQL(t *testing.T) {
	tests := []struct{ in, want string }{
		{`CREATE SUBSCRIPTION s CONNECTION 'host=h password=secret dbname=d' PUBLICATION p`,
			`CREATE SUBSCRIPTION s CONNECTION 'host=h password=xxxxx dbname=d' PUBLICATION p`},
		{`CREATE SUBSCRIPTION s CONNECTION 'host=h password=''it\''s x'' dbname=d' PUBLICATION p`,
			`CREATE SUBSCRIPTION s CONNECTION 'host=h password=xxxxx dbname=d' PUBLICATION p`},
		{`CREATE SUBSCRIPTION s CONNECTION 'postgres://u:s3cr%40t@h:5432/d' PUBLICATION p`,
			`CREATE SUBSCRIPTION s CONNECTION 'postgres://u:xxxxx@h:5432/d' PUBLICATION p`},
		{`host=h PASSWORD = 'a b\'c' user=u`, `host=h PASSWORD = xxxxx user=u`},
		{`ALTER ROLE r PASSWORD 'it''s'`, `ALTER ROLE r PASSWORD 'xxxxx'`},
		{`SELECT pg_drop_replication_slot($1)`, `SELECT pg_drop_replication_slot($1)`},
		{`postgres://u@h/d`, `postgres://u@h/d`},
	}
	for _, tt := range tests {
		if got := RedactSQL(tt.in); got != tt.want {
			t.Errorf("RedactSQL(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// conninfoQuote quotes a keyword/value connection string value as libpq
// reads it.
func conninfoQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// FuzzRedactSQL: whatever the password, the CREATE SUBSCRIPTION pgvecrep
// runs is logged with the password, and only the password, replaced.
func FuzzRedactSQL(f *testing.F) {
	for _, s := range []string{"secret", "it's", `a\b`, "p@ss:w/rd", "'' ''", "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		kv := "CREATE SUBSCRIPTION s CONNECTION " + Literal("host=h password="+conninfoQuote(pw)+" dbname=d") + " PUBLICATION p"
		if got, want := RedactSQL(kv), `CREATE SUBSCRIPTION s CONNECTION 'host=h password=xxxxx dbname=d' PUBLICATION p`; got != want {
			t.Fatalf("keyword/value: got %q, want %q", got, want)
		}
		u := url.URL{Scheme: "postgres", User: url.UserPassword("u", pw), Host: "h:5432", Path: "/d"}
		uq := "CREATE SUBSCRIPTION s CONNECTION " + Literal(u.String()) + " PUBLICATION p"
		if got, want := RedactSQL(uq), `CREATE SUBSCRIPTION s CONNECTION 'postgres://u:xxxxx@h:5432/d' PUBLICATION p`; got != want {
			t.Fatalf("URL: got %q, want %q", got, want)
		}
	})
}
