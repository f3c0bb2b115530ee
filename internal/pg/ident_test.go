package pg

import "testing"

func TestParseName(t *testing.T) {
	tests := []struct {
		in   string
		want Name
		err  bool
	}{
		{"users", Name{"public", "users"}, false},
		{"Users", Name{"public", "users"}, false},
		{"app.Users", Name{"app", "users"}, false},
		{`"My Schema"."Odd ""T"""`, Name{"My Schema", `Odd "T"`}, false},
		{`"Ünïcode"`, Name{"public", "Ünïcode"}, false},
		{"a.b.c", Name{}, true},
		{`"open`, Name{}, true},
		{"", Name{}, true},
		{"a.", Name{}, true},
	}
	for _, tt := range tests {
		got, err := ParseName(tt.in, "public")
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseName(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"users", `"a"."b"`, `x."y""z"`, "..", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s, "public")
		if err != nil {
			return
		}
		// A parsed name, printed quoted, parses back to itself.
		back, err := ParseName(n.Quoted(), "x")
		if err != nil || back != n {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, n, n.Quoted(), back, err)
		}
	})
}

func TestQuoteIfNeeded(t *testing.T) {
	for in, want := range map[string]string{"users": "users", "Users": `"Users"`, "a b": `"a b"`, "über": "über", "1a": `"1a"`} {
		if got := QuoteIfNeeded(in); got != want {
			t.Errorf("QuoteIfNeeded(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("failed for s3cret user", "s3cret"); got != "failed for xxxxx user" {
		t.Error(got)
	}
}
