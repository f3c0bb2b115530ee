package group

import (
	"regexp"
	"testing"
)

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func TestObjectName(t *testing.T) {
	tests := map[string]string{
		"g1":                 "pgvecrep_g1",
		"database-cluster-1": "pgvecrep_database_cluster_1_c9e04a03",
	}
	for in, want := range tests {
		if got := ObjectName(in); got != want {
			t.Errorf("ObjectName(%q) = %q, want %q", in, got, want)
		}
	}
	// Names that differ only in characters a slot cannot hold stay apart.
	if ObjectName("a-b") == ObjectName("a_b") || ObjectName("A") == ObjectName("a") {
		t.Error("distinct group names map to the same slot name")
	}
}

func FuzzObjectName(f *testing.F) {
	for _, s := range []string{"g", "database-cluster-1", `Grüppe "1"`, "", "x" + string(make([]byte, 100))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n := ObjectName(s); !slotName.MatchString(n) {
			t.Fatalf("ObjectName(%q) = %q is not a valid slot name", s, n)
		}
	})
}
