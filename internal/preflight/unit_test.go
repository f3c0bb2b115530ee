package preflight

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0.8.0", "0.7.4", 1},
		{"0.7.4", "0.8.0", -1},
		{"0.10.0", "0.9.1", 1},
		{"1.8", "1.4", 1},
		{"1.0", "1.0.0", 0},
		{"1.0.0", "1.0", 0},
		{"0.8.0", "0.8.0", 0},
		{"1.0", "1.0beta1", 1},
		{"1.0beta2", "1.0beta1", 1},
		{"1.0rc1", "1.0beta3", 1},
		{"2.0", "10.0", -1},
		{"007", "7", 0},
		{"99999999999999999999999", "1", 1},
		{"", "0", 0},
		{"", "0.1", -1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	for _, s := range [][2]string{{"0.8.0", "0.7.4"}, {"1.0beta1", "1.0"}, {"", "a"}, {"1..2", "1-2"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if CompareVersions(a, a) != 0 {
			t.Fatalf("CompareVersions(%q, %q) != 0", a, a)
		}
		if x, y := CompareVersions(a, b), CompareVersions(b, a); x != -y {
			t.Fatalf("CompareVersions(%q, %q) = %d but reversed = %d", a, b, x, y)
		}
	})
}

func TestParseDumpVersion(t *testing.T) {
	tests := []struct {
		out  string
		want int
		err  bool
	}{
		{"pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n", 15, false},
		{"pg_dump (PostgreSQL) 9.6.24\n", 9, false},
		{"pg_dump (PostgreSQL) 17devel", 17, false},
		{"pg_dump (PostgreSQL) 16beta1", 16, false},
		{"something else", 0, true},
		{"", 0, true},
		{"pg_dump (PostgreSQL) 99999999999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := parseDumpVersion(tt.out)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseDumpVersion(%q) = %d, %v; want %d, err=%v", tt.out, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseDumpVersion(f *testing.F) {
	f.Add("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)")
	f.Add("(PostgreSQL)")
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseDumpVersion(s); err == nil && n < 0 {
			t.Fatalf("parseDumpVersion(%q) = %d", s, n)
		}
	})
}

// fakeBin writes a pg_dump answering --version with version into a new directory.
func fakeBin(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'pg_dump (PostgreSQL) " + version + "'\n"
	if err := os.WriteFile(filepath.Join(dir, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindPgDump(t *testing.T) {
	// The one on PATH comes first when it is new enough.
	dir := fakeBin(t, "99.1")
	t.Setenv("PATH", dir)
	path, major, err := FindPgDump(16)
	if err != nil || path != filepath.Join(dir, "pg_dump") || major != 99 {
		t.Errorf("FindPgDump(16) with pg_dump 99 on PATH = %q, %d, %v", path, major, err)
	}
	// Nothing is new enough: an error with a hint naming the version.
	_, _, err = FindPgDump(1000)
	if err == nil || !strings.Contains(hint.Of(err), "1000") {
		t.Errorf("FindPgDump(1000) = %v (hint %q), want an error with a hint", err, hint.Of(err))
	}
	// An old one on PATH is passed over for an installed newer one.
	installed, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(installed) == 0 {
		testenv.Need(t, "pg_dump", fmt.Errorf("no pg_dump under /usr/lib/postgresql"))
	}
	old := fakeBin(t, "9.6.24")
	t.Setenv("PATH", old)
	path, major, err = FindPgDump(10)
	if err != nil || strings.HasPrefix(path, old) || major < 10 {
		t.Errorf("FindPgDump(10) with pg_dump 9.6 on PATH = %q, %d, %v", path, major, err)
	}
}

func facts(mod func(f *pg.Facts)) pg.Facts {
	f := pg.Facts{VersionNum: 150004, Version: "15.4 (Debian)", SystemID: "1", Database: "app", User: "postgres",
		Superuser: true, WALLevel: "logical", MaxReplSlots: 10, MaxWALSenders: 10, MaxLogicalWorkers: 4,
		MaxWorkerProcesses: 8, MaxSyncWorkers: 2, MaxParallelMaint: 2}
	if mod != nil {
		mod(&f)
	}
	return f
}

func TestFindings(t *testing.T) {
	tests := []struct {
		name   string
		got    Finding
		status string
		detail string
	}{
		{"same database", databasesFinding(facts(nil), facts(nil)), StatusError, "same database"},
		{"same cluster", databasesFinding(facts(nil), facts(func(f *pg.Facts) { f.Database = "other" })), StatusOK, "same cluster"},
		{"different systems", databasesFinding(facts(nil), facts(func(f *pg.Facts) { f.SystemID = "2" })), StatusOK, "(PostgreSQL 15.4)"},
		{"wal_level logical", walLevelFinding(facts(nil)), StatusOK, "logical"},
		{"wal_level replica", walLevelFinding(facts(func(f *pg.Facts) { f.WALLevel = "replica" })), StatusError, "is replica"},
		{"slots free", slotsFinding(facts(func(f *pg.Facts) { f.UsedReplSlots = 9 }), 1), StatusOK, "1 of 10"},
		{"slots full", slotsFinding(facts(func(f *pg.Facts) { f.UsedReplSlots = 10 }), 1), StatusError, "10 of max_replication_slots=10"},
		{"senders full", sendersFinding(facts(func(f *pg.Facts) { f.UsedWALSenders = 10 }), 1), StatusError, "no free WAL sender on the source (10 of max_wal_senders=10 in use)"},
		{"senders free", sendersFinding(facts(func(f *pg.Facts) { f.UsedWALSenders = 8 }), 1), StatusOK, "2 of 10 WAL senders free on the source"},
		{"workers free", workersFinding(facts(nil), 0, 1), StatusOK, "4 of 4"},
		{"workers for apply only", workersFinding(facts(nil), 2, 1), StatusWarn, "uses up to 3"},
		{"workers none", workersFinding(facts(nil), 4, 1), StatusError, "no free logical replication worker on the target (4 of max_logical_replication_workers=4 in use)"},
		{"processes ok", processesFinding(facts(nil), 1), StatusOK, "covers"},
		{"processes low", processesFinding(facts(func(f *pg.Facts) { f.MaxWorkerProcesses = 4 }), 1), StatusWarn, "below"},
		{"processes none", processesFinding(facts(func(f *pg.Facts) { f.MaxWorkerProcesses = 1 }), 1), StatusError, "no room"},
		{"superuser", privilegesFinding(pg.Source, facts(nil), "", false), StatusOK, "superuser"},
		{"not superuser", privilegesFinding(pg.Source, facts(func(f *pg.Facts) { f.Superuser = false }), "", false), StatusOK, "each capability"},
		{"member", privilegesFinding(pg.Source, facts(func(f *pg.Facts) { f.Superuser = false }), "rds_superuser", true), StatusOK, "member of rds_superuser"},
		{"no member", privilegesFinding(pg.Target, facts(func(f *pg.Facts) { f.Superuser = false }), "rds_superuser", false), StatusWarn, "neither"},
		{"subscription on 15", subscriptionFinding(facts(func(f *pg.Facts) { f.Superuser = false }), false, false), StatusError, "only a superuser"},
		{"subscription on 15, special role", subscriptionFinding(facts(func(f *pg.Facts) { f.Superuser = false }), true, false), StatusWarn, "CREATE SUBSCRIPTION"},
		{"subscription on 16, member", subscriptionFinding(facts(func(f *pg.Facts) { f.Superuser = false; f.VersionNum = 160001 }), false, true), StatusOK, "pg_create_subscription"},
		{"subscription on 16", subscriptionFinding(facts(func(f *pg.Facts) { f.Superuser = false; f.VersionNum = 160001 }), false, false), StatusError, "pg_create_subscription"},
		{"create on database", createFinding(pg.Source, facts(nil), "source_create", "", true), StatusOK, "may CREATE"},
		{"no create on database", createFinding(pg.Source, facts(nil), "source_create", "for the publication", false), StatusError, "may not CREATE in database app"},
		{"replication own", replicationFinding("app", "", true, false), StatusOK, "REPLICATION"},
		{"replication via role", replicationFinding("app", "r", false, true), StatusWarn, "does not inherit"},
		{"no replication", replicationFinding("app", "r", false, false), StatusError, "may not create replication slots"},
	}
	for _, tt := range tests {
		if tt.got.Status != tt.status || !strings.Contains(tt.got.Detail, tt.detail) {
			t.Errorf("%s: got %s %q, want %s containing %q", tt.name, tt.got.Status, tt.got.Detail, tt.status, tt.detail)
		}
		if tt.got.Status != StatusOK && tt.got.Hint == "" {
			t.Errorf("%s: %s finding without a hint", tt.name, tt.got.Status)
		}
	}
}

func TestExtensionFinding(t *testing.T) {
	vec := catalog.Extension{Name: "vector", Version: "0.8.0"}
	tests := []struct {
		name      string
		installed string
		available []string
		status    string
		detail    string
		hint      string
	}{
		{"same installed", "0.8.0", []string{"0.8.0"}, StatusOK, "0.8.0 installed on the target", ""},
		{"newer installed", "0.8.1", []string{"0.8.1"}, StatusOK, "0.8.1 installed", ""},
		{"older installed, update offered", "0.7.4", []string{"0.7.4", "0.8.0"}, StatusError, "0.7.4 on the target, older than 0.8.0", "UPDATE TO '0.8.0'"},
		{"older installed, newer offered", "0.7.4", []string{"0.7.4", "0.9.0"}, StatusError, "older", "UPDATE TO '0.9.0'"},
		{"older installed, nothing offered", "0.7.4", []string{"0.7.4"}, StatusError, "older", "install pgvector (extension vector) 0.8.0 or newer"},
		{"available", "", []string{"0.10.0", "0.8.0"}, StatusOK, "available on the target (up to 0.10.0)", ""},
		{"too old available", "", []string{"0.5.1", "0.7.4"}, StatusError, "offers only up to 0.7.4", "install pgvector"},
		{"not available", "", nil, StatusError, "not available on the target server", "install pgvector"},
	}
	for _, tt := range tests {
		f := extensionFinding(vec, tt.installed, tt.available)
		if f.Status != tt.status || !strings.Contains(f.Detail, tt.detail) || !strings.Contains(f.Hint, tt.hint) {
			t.Errorf("%s: got %s %q hint %q; want %s %q hint %q", tt.name, f.Status, f.Detail, f.Hint, tt.status, tt.detail, tt.hint)
		}
	}
}

func TestNeededExtensions(t *testing.T) {
	src := []catalog.Extension{{Name: "hstore", Version: "1.8"}, {Name: "pg_trgm", Version: "1.6"}, {Name: "vector", Version: "0.8.0"}}
	ts := []catalog.Table{{Columns: []catalog.Column{{Name: "h", TypeExt: "hstore"}, {Name: "id"}}}}
	got := neededExtensions(src, ts)
	if len(got) != 2 || got[0].Name != "hstore" || got[1].Name != "vector" {
		t.Errorf("neededExtensions = %v, want hstore (used) and vector (known), not pg_trgm", got)
	}
}

func TestColumnDiff(t *testing.T) {
	col := func(name, typ string) catalog.Column { return catalog.Column{Name: name, Type: typ} }
	src := catalog.Table{Columns: []catalog.Column{col("id", "bigint"), col("embedding", "vector(10)"), col("Name", "text")}}
	tests := []struct {
		name string
		tgt  []catalog.Column
		want []string
	}{
		{"same, other order", []catalog.Column{col("Name", "text"), col("id", "bigint"), col("embedding", "vector(10)")}, nil},
		{"dimension", []catalog.Column{col("id", "bigint"), col("embedding", "vector(12)"), col("Name", "text")},
			[]string{"column embedding is vector(12) on the target but vector(10) on the source"}},
		{"missing and extra", []catalog.Column{col("id", "bigint"), col("embedding", "vector(10)"), col("name", "text")},
			[]string{`column "Name" text is missing on the target`, "column name text exists only on the target"}},
	}
	for _, tt := range tests {
		got := columnDiff(src, catalog.Table{Columns: tt.tgt})
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: columnDiff = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func sampleReport() Report {
	return Report{
		Tables: []catalog.Table{{Name: pg.Name{Schema: "public", Name: "items"}}, {Name: pg.Name{Schema: "public", Name: "Odd Name"}}},
		Findings: []Finding{
			{Check: "wal_level", Status: StatusOK, Detail: "source wal_level is logical"},
			{Check: "replica_identity", Status: StatusError,
				Detail: `table public."Odd Name" has no primary key and no replica identity: its updates and deletes cannot be replicated`,
				Hint:   `add a primary key to public."Odd Name", or run ALTER TABLE "public"."Odd Name" REPLICA IDENTITY FULL on the source`},
			{Check: "target_workers", Status: StatusWarn, Detail: "2 logical replication workers free\non the target", Hint: "raise\tit"},
		},
	}
}

func TestReportOutput(t *testing.T) {
	r := sampleReport()
	if r.OK() || r.Problems() != 1 || r.Warnings() != 1 {
		t.Errorf("OK, Problems, Warnings = %v, %d, %d; want false, 1, 1", r.OK(), r.Problems(), r.Warnings())
	}
	var tbl, js bytes.Buffer
	if err := r.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	pgtest.Golden(t, "report.txt", tbl.Bytes(), *update)
	pgtest.Golden(t, "report.json", js.Bytes(), *update)
	var back struct {
		OK       bool      `json:"ok"`
		Errors   int       `json:"errors"`
		Tables   []string  `json:"tables"`
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("WriteJSON output does not parse: %v", err)
	}
	if back.OK || back.Errors != 1 || len(back.Findings) != 3 || back.Tables[1] != `public."Odd Name"` {
		t.Errorf("JSON round trip = %+v", back)
	}
	if !(Report{}).OK() {
		t.Error("an empty report is not OK")
	}
}
