package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestStartSyncJSONEvents runs start_sync with --log-format json: its
// stdout is JSON objects only, one per line, each with its phase and
// message, and among them the copy of the table (with its rows), the
// build of its vector index (with the time it took) and the end of the run;
// then cleanup, whose events are JSON lines too.
func TestStartSyncJSONEvents(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ddl := `CREATE TABLE docs (id integer PRIMARY KEY, embedding vector(10) NOT NULL);
		CREATE INDEX docs_v ON docs USING hnsw (embedding vector_l2_ops);`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	insertRandom(t, src, "docs", 1, 300)
	mustRun(t, src, tgt, "bootstrap", "-g", "j")
	r := pgvecrep(t, src, tgt, "--log-format", "json", "start_sync", "-g", "j")
	if r.code != 0 {
		t.Fatalf("start_sync exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	type record struct {
		Msg, Level, Phase, Table, Index string
		Rows, Bytes                     int64
		Seconds                         float64
	}
	var copied, built, done int
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for i, line := range lines {
		var e record
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("stdout line %d is not one JSON object: %v\n%s", i+1, err, line)
		}
		if e.Phase == "" || e.Msg == "" || e.Level != "INFO" {
			t.Errorf("line %d lacks its phase, message or level: %s", i+1, line)
		}
		switch {
		case e.Phase == "copy" && e.Table == "public.docs" && e.Rows == 300 && e.Bytes > 0:
			copied++
		case e.Phase == "index" && e.Table == "public.docs" && e.Index == "docs_v" && e.Seconds > 0 && strings.HasPrefix(e.Msg, "built "):
			built++
		case e.Phase == "done" && e.Seconds > 0 && strings.HasPrefix(e.Msg, "streaming after "):
			if i != len(lines)-1 {
				t.Errorf("the done event is line %d of %d, not the last", i+1, len(lines))
			}
			done++
		}
	}
	if copied != 1 || built != 1 || done != 1 {
		t.Errorf("events: %d copy of public.docs with 300 rows, %d build of docs_v, %d done; want one each\nstdout:\n%s",
			copied, built, done, r.stdout)
	}
	if sum := `SELECT count(*)::text || ':' || md5(string_agg(id::text || embedding::text, ',' ORDER BY id)) FROM docs`; src.QueryStrings(t, sum)[0] != tgt.QueryStrings(t, sum)[0] {
		t.Error("the target's rows differ from the source's")
	}
	// cleanup reports through the same stream: three drops and its end.
	r = pgvecrep(t, src, tgt, "--log-format", "json", "cleanup", "-g", "j")
	var phases []string
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var e record
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("cleanup's stdout line is not one JSON object: %v\n%s", err, line)
		}
		phases = append(phases, e.Phase)
	}
	if got := strings.Join(phases, " "); r.code != 0 || got != "detach detach detach done" {
		t.Errorf("cleanup: exit %d, phases %q, want detach x3 then done\nstdout:\n%s\nstderr:\n%s", r.code, got, r.stdout, r.stderr)
	}
	pgtest.AssertNoReplication(t, src, tgt)
}
