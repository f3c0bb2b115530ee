package pg

import (
	"maps"
	"strings"
	"testing"
)

func TestHasPassword(t *testing.T) {
	for _, tc := range []struct {
		conn string
		want bool
	}{
		{"postgres://app:pw@db:5432/x", true},
		{"postgresql://app:@db/x", true},
		{"postgres://app@db/x", false},
		{"postgres://db/x?sslmode=verify-full&password=pw", true},
		{"postgres://app@db/x?passwordless=1", false},
		{"postgres://app:pw@h1:5432,h2:5432/x", true},
		{"postgres://app@h1:5432,h2:5432/x?sslmode=require", false},
		{"postgres://app@h1:5432,h2:5432/x?sslmode=require&password=pw", true},
		{"postgres://app:p@ss#w/rd@db/x", true},
		{"host=db user=app password=pw dbname=x", true},
		{"host=db user=app password = 'p w'", true},
		{"host=db user=app dbname=x", false},
		{"host=db user=app passfile=/tmp/pgpass", false},
		{"password=pw host", true}, // unreadable, and it mentions one
		{"", false},
	} {
		if got := HasPassword(tc.conn); got != tc.want {
			t.Errorf("HasPassword(%q) = %v, want %v", tc.conn, got, tc.want)
		}
	}
}

func TestKeywords(t *testing.T) {
	for _, tc := range []struct {
		conn string
		want map[string]string
	}{
		{"postgres://me:s%40cret@db.example:6432/app?sslmode=verify-ca",
			map[string]string{"user": "me", "password": "s@cret", "host": "db.example", "port": "6432", "dbname": "app", "sslmode": "verify-ca"}},
		{"postgresql://u@h1:5432,[::1]:5433,h3/x",
			map[string]string{"user": "u", "host": "h1,::1,h3", "port": "5432,5433,", "dbname": "x"}},
		{"postgres://h?application_name=a%20b", map[string]string{"host": "h", "application_name": "a b"}},
		{"host=h port=1 password='a b\\' c' dbname = x", map[string]string{"host": "h", "port": "1", "password": "a b' c", "dbname": "x"}},
		{"", map[string]string{}},
	} {
		got, err := Keywords(tc.conn)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("Keywords(%q) = %v, %v; want %v", tc.conn, got, err, tc.want)
		}
	}
	for _, bad := range []string{"host", "password='open", "password='a''b' x=1", "postgres://u:p@h:1:2:3/%zz", "=x"} {
		_, err := Keywords(bad)
		if err == nil {
			t.Errorf("Keywords(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "open") || strings.Contains(err.Error(), ":p@") {
			t.Errorf("Keywords(%q) error shows the secret: %v", bad, err)
		}
	}
}

// FuzzKeywords: Keywords never panics, returns a map when it succeeds, and
// whatever password it reads HasPassword sees too.
func FuzzKeywords(f *testing.F) {
	for _, s := range []string{"host=h password='a b\\' c' port=1", "postgres://u:p@h1:1,h2/db?password=x", "postgres://[::1", "a='"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kv, err := Keywords(s)
		if err != nil {
			return
		}
		if kv == nil {
			t.Fatal("nil map without an error")
		}
		if _, ok := kv["password"]; ok && !HasPassword(s) {
			t.Fatalf("Keywords(%q) reads a password that HasPassword misses", s)
		}
	})
}
