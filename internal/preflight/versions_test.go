package preflight

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

func major(n int) pg.Facts { return facts(func(f *pg.Facts) { f.VersionNum = n*10000 + 1 }) }

func TestVersionsFinding(t *testing.T) {
	tests := []struct {
		name           string
		source, target int
		status         string
		want, notWant  []string
	}{
		{"same", 15, 15, StatusOK, []string{"both PostgreSQL 15"}, []string{"upgrade", "downgrade"}},
		{"upgrade", 15, 18, StatusOK, []string{"upgrade path: PostgreSQL 15 -> 18", "binary = true", "pg_create_subscription", "run_as_owner"}, []string{"failover"}},
		{"upgrade from 17", 17, 18, StatusOK, []string{"failover"}, nil},
		{"downgrade", 18, 15, StatusWarn, []string{"downgrade", "older than the source's 18", "transaction_timeout", "--copy-schema", "virtual generated"}, nil},
		{"downgrade 16", 16, 15, StatusWarn, []string{"downgrade"}, []string{"transaction_timeout", "virtual generated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := versionsFinding(major(tt.source), major(tt.target))
			if f.Status != tt.status {
				t.Errorf("status = %s, want %s (%s)", f.Status, tt.status, f.Detail)
			}
			for _, w := range tt.want {
				if !strings.Contains(f.Detail, w) {
					t.Errorf("detail lacks %q: %s", w, f.Detail)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(f.Detail, w) {
					t.Errorf("detail has %q: %s", w, f.Detail)
				}
			}
			if (f.Status == StatusWarn) != (f.Hint != "") {
				t.Errorf("hint %q for status %s", f.Hint, f.Status)
			}
		})
	}
}

func TestPgDumpFinding(t *testing.T) {
	if f := pgDumpFinding("/x/pg_dump", 15, 15, 18); f.Status != StatusOK {
		t.Errorf("pg_dump 15 for 15 -> 18 = %+v, want ok", f)
	}
	f := pgDumpFinding("/x/pg_dump", 18, 18, 15)
	if f.Status != StatusWarn || !strings.Contains(f.Detail, "target is 15") || f.Hint == "" {
		t.Errorf("pg_dump 18 for 18 -> 15 = %+v, want a warning with a hint", f)
	}
}
