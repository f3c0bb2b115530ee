package pg

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://postgres:p@ss#w0rd@host/db", "postgres://postgres:xxxxx@host/db"},
		{"postgresql://u:a/b?c@h:5432/d?sslmode=disable", "postgresql://u:xxxxx@h:5432/d?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h:5432/db", "postgres://h:5432/db"},
		{"host=h password=s3cr#t user=u", "host=h password=xxxxx user=u"},
		{`password = 'it\'s me' host=h`, "password = xxxxx host=h"},
		{"host=h", "host=h"},
	} {
		if got := MaskURL(tc.in); got != tc.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestParseConfigUnencodedPassword: a password with characters a URL parser
// stops at is refused before parsing, masked, with a hint to percent-encode.
func TestParseConfigUnencodedPassword(t *testing.T) {
	for _, url := range []string{
		"postgres://postgres:p@ss#w0rd@127.0.0.1:49102/db",
		"postgres://postgres:p/ss?w0rd@127.0.0.1:49102/db",
		"postgres://postgres:50%off@127.0.0.1/db",
	} {
		_, err := ParseConfig(Source, url)
		if err == nil {
			t.Fatalf("ParseConfig(%q) succeeded", url)
		}
		pw, _, _, _ := passwordSpan(url)
		text := err.Error() + " " + hint.Of(err)
		for _, part := range []string{pw, pw[1:], pw[len(pw)-4:]} {
			if strings.Contains(text, part) {
				t.Errorf("error for %q shows %q: %s", url, part, text)
			}
		}
		if !strings.Contains(hint.Of(err), "percent-encode") {
			t.Errorf("hint for %q does not say percent-encode: %s", url, hint.Of(err))
		}
	}
	if _, err := ParseConfig(Source, "postgres://postgres:p%40ss%23w0rd@127.0.0.1:49102/db"); err != nil {
		t.Errorf("an encoded password is refused: %v", err)
	}
}

// TestRedactSQLUnencodedPassword: the --verbose log masks an unencoded
// password up to its last '@'.
func TestRedactSQLUnencodedPassword(t *testing.T) {
	got := RedactSQL(`CREATE SUBSCRIPTION s CONNECTION 'postgres://u:p@ss#w0rd@h/db' PUBLICATION p`)
	if strings.Contains(got, "w0rd") || !strings.Contains(got, "u:xxxxx@h/db") {
		t.Errorf("RedactSQL = %s", got)
	}
}

// FuzzMaskURL: whatever the password, it never survives masking or shows in
// a parse error.
func FuzzMaskURL(f *testing.F) {
	f.Add("p@ss#w0rd", "host/db")
	f.Add("a/b?c", "h:1/d?x=y")
	f.Fuzz(func(t *testing.T, pw, rest string) {
		if len(pw) < 4 || strings.Contains(rest, "@") || strings.Contains(rest, pw) || strings.Contains("postgres://user:"+Mask, pw) {
			return
		}
		got := MaskURL("postgres://user:" + pw + "@" + rest)
		if strings.Contains(got, pw) {
			t.Errorf("MaskURL left the password %q in %q", pw, got)
		}
		if _, err := ParseConfig(Source, "postgres://user:"+pw+"@"+rest); err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("ParseConfig error shows the password %q: %v", pw, err)
		}
	})
}
