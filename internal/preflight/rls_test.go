package preflight

import (
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestRunRowSecurity(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	healthy(t, src, tgt)
	tgt.Role(t, "pgvr_rls_owner", "LOGIN")
	src.Role(t, "pgvr_rls_reader", "LOGIN")
	tgt.Exec(t, `ALTER TABLE items OWNER TO pgvr_rls_owner;
		ALTER TABLE items ENABLE ROW LEVEL SECURITY;
		CREATE POLICY only_even ON items AS RESTRICTIVE USING (id % 2 = 0)`)
	src.Exec(t, `GRANT SELECT ON items TO pgvr_rls_reader;
		ALTER TABLE items ENABLE ROW LEVEL SECURITY;
		CREATE POLICY only_even ON items USING (id % 2 = 0)`)

	tests := []struct {
		name, srcUser, tgtUser, force string
		want                          want
	}{
		{"superusers", "", "", "NO FORCE", want{"row_security", "ok", "no row-level security policy applies"}},
		{"superuser past FORCE", "", "", "FORCE", want{"row_security", "ok", "no row-level security policy applies"}},
		{"target owner", "", "pgvr_rls_owner", "NO FORCE", want{"row_security", "ok", "no row-level security policy applies"}},
		{"target owner with FORCE", "", "pgvr_rls_owner", "FORCE",
			want{"row_security", "error", "applies to target user pgvr_rls_owner on table public.items: the copy into it would fail"}},
		{"source reader under a policy", "pgvr_rls_reader", "", "NO FORCE",
			want{"row_security", "error", "applies to source user pgvr_rls_reader on table public.items: the copy would silently miss"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt.Exec(t, "ALTER TABLE items "+tt.force+" ROW LEVEL SECURITY")
			o := Options{SourceURL: src.URL, TargetURL: tgt.URL}
			if tt.srcUser != "" {
				o.SourceURL = withUser(t, src.URL, tt.srcUser)
			}
			if tt.tgtUser != "" {
				o.TargetURL = withUser(t, tgt.URL, tt.tgtUser)
			}
			expect(t, runChecked(t, o, src, tgt), tt.want)
		})
	}
}
