package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestStartSyncFollow runs start_sync --follow with a writer running: the
// one command copies the group, and once it streams it goes on as follow
// (a second follow refuses; a table created on the source arrives with its
// rows, nobody running apply_ddl_change; /metrics serves the verifier's
// series and a full pass finds nothing under the writer). Stopping it
// (SIGTERM's cancel) exits 0 and leaves the group streaming.
func TestStartSyncFollow(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text, emb vector(3))`
	src.Exec(t, table)
	tgt.Exec(t, table)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text), ARRAY[i, 1, 2]::real[]::vector FROM generate_series(1, 2000) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	stopWriter := pgtest.StartWriter(t, src.URL, "items", 100_000)
	defer stopWriter()
	out, stop := startCommand(t, src, tgt, "start_sync", "-g", "d", "--jobs", "2", "--follow",
		"--interval", "0.2", "--verify-rate", "20", "--verify-chunk-rows", "500", "--listen", "127.0.0.1:0")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("start_sync --follow's output:\n%s", out.String())
		}
	})
	pgtest.WaitFor(t, "start_sync to stream and follow", func() bool {
		return strings.Contains(out.String(), "following group d")
	})
	url := metricsURL(t, out)

	r := pgvecrep(t, src, tgt, "follow", "-g", "d")
	if r.code != 1 || !strings.Contains(r.stderr, "already followed") {
		t.Errorf("a second follow while start_sync --follow runs: exit %d\n%s", r.code, r.stderr)
	}

	sconn, tconn := src.Conn(t), tgt.Conn(t)
	src.Exec(t, `CREATE TABLE extra (id int PRIMARY KEY, v vector(2))`)
	src.Exec(t, `INSERT INTO extra SELECT i, ARRAY[i, i]::real[]::vector FROM generate_series(1, 300) i`)
	pgtest.SameRows(t, sconn, tconn, "extra", "true")

	pgtest.WaitFor(t, "a full verification pass", func() bool { return scrape(t, url, "pgvecrep_verify_last_full_pass_timestamp_seconds") > 0 })
	if n := scrape(t, url, "pgvecrep_verify_mismatches_total"); n != 0 {
		t.Errorf("%v mismatches on a healthy group under a writer", n)
	}
	if code := stop(); code != 0 || !strings.Contains(out.String(), "follow of group d stopped") {
		t.Errorf("start_sync --follow stopped with exit %d", code)
	}
	g, err := group.Get(context.Background(), tconn, "d")
	if err != nil || g.Phase != group.Streaming {
		t.Errorf("after follow stopped the group is %q (%v), want streaming", g.Phase, err)
	}
	stopWriter()
	pgtest.SameRows(t, sconn, tconn, "items", "true")
}

// TestStartSyncFollowFlagsAlone: a follow flag without --follow is refused
// before start_sync connects to anything, not found out after the copy.
func TestStartSyncFollowFlagsAlone(t *testing.T) {
	r := pgvecrep(t, pgtest.DB{}, pgtest.DB{}, "start_sync", "-g", "d", "--listen", ":9187", "-u", "http://127.0.0.1:1/x",
		"--url", "http://127.0.0.1:1/x", "--verify-keyless-rows", "5", "--jobs", "2")
	want := "--listen, --url, --verify-keyless-rows only apply with --follow"
	if r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "hint: add --follow") {
		t.Errorf("start_sync with follow flags and no --follow: exit %d, want 2 and %q\n%s", r.code, want, r.stderr)
	}
}
