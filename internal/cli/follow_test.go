package cli

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// startFollow runs pgvecrep follow in-process on a context of its own;
// stop cancels it (as SIGTERM does) and returns the exit code.
func startFollow(t *testing.T, src, tgt pgtest.DB, args ...string) (out *lockedBuffer, stop func() int) {
	t.Helper()
	return startCommand(t, src, tgt, append([]string{"follow"}, args...)...)
}

// startCommand runs a pgvecrep command that runs until stopped (follow,
// start_sync --follow) in-process on a context of its own; stop cancels
// it (as SIGTERM does) and returns the exit code.
func startCommand(t *testing.T, src, tgt pgtest.DB, args ...string) (out *lockedBuffer, stop func() int) {
	t.Helper()
	out = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- pgtest.RunCLITo(ctx, RunEnv, out, out, pgtest.URLs(src, tgt), args...)
	}()
	stopped := false
	code := -1
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("%s did not stop; output:\n%s", args[0], out.String())
			}
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

// metricsURL waits for follow's log line that says where /metrics is.
func metricsURL(t *testing.T, out *lockedBuffer) string {
	t.Helper()
	re := regexp.MustCompile(`"url":"(http://[^"]+/metrics)"`)
	var url string
	pgtest.WaitFor(t, "follow to serve /metrics", func() bool {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	return url
}

// scrape returns the value of one unlabelled series of group g, or -1.
func scrape(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+"{"); ok {
			if _, v, ok := strings.Cut(rest, "} "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
	}
	return -1
}

// TestFollowFinishesDDLAndVerifies starts a group with a writer and follow
// running, then, on the source: a new table with rows (it arrives with all
// of them, no apply_ddl_change), an HNSW index (built on the target once,
// valid). A second follow refuses. The verifier passes over the healthy
// group with no mismatch under the writer, and reports a row deleted on
// the target behind replication's back, naming the table and range.
func TestFollowFinishesDDLAndVerifies(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text, emb vector(3))`
	src.Exec(t, table)
	tgt.Exec(t, table)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text), ARRAY[i, 1, 2]::real[]::vector FROM generate_series(1, 3000) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	mustRun(t, src, tgt, "start_sync", "-g", "d", "--jobs", "2")
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	stopWriter := pgtest.StartWriter(t, src.URL, "items", 100_000)
	defer stopWriter()
	out, stop := startFollow(t, src, tgt, "-g", "d", "--interval", "0.2", "--verify-rate", "20", "--verify-chunk-rows", "500", "--listen", "127.0.0.1:0")
	url := metricsURL(t, out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("follow's output:\n%s", out.String())
		}
	})

	src.Exec(t, `CREATE TABLE extra (id int PRIMARY KEY, v vector(2))`)
	src.Exec(t, `INSERT INTO extra SELECT i, ARRAY[i, i]::real[]::vector FROM generate_series(1, 300) i`)
	pgtest.SameRows(t, sconn, tconn, "extra", "true")

	src.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`)
	pgtest.WaitFor(t, "the HNSW index to be built", func() bool {
		c := listDDL(t, src, tgt)
		return len(c) > 0 && c[len(c)-1].Status == "built"
	})
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indexrelid = 'items_emb'::regclass AND indisvalid"); n != 1 {
		t.Error("the HNSW index is not valid on the target")
	}
	if n := strings.Count(out.String(), "built index public.items_emb"); n != 1 {
		t.Errorf("the index was built %d times, want 1:\n%s", n, out.String())
	}

	r := pgvecrep(t, src, tgt, "follow", "-g", "d")
	if r.code != 1 || !strings.Contains(r.stderr, "already followed") || strings.Count(r.stderr, "pgvecrep:") != 1 {
		t.Errorf("a second follow: exit %d\n%s", r.code, r.stderr)
	}

	pgtest.WaitFor(t, "a full verification pass", func() bool { return scrape(t, url, "pgvecrep_verify_last_full_pass_timestamp_seconds") > 0 })
	if n := scrape(t, url, "pgvecrep_verify_mismatches_total"); n != 0 || strings.Contains(out.String(), `"event":"mismatch"`) {
		t.Fatalf("%v mismatches on a healthy group:\n%s", n, out.String())
	}

	tgt.Exec(t, `SET session_replication_role = replica; DELETE FROM items WHERE id = 1234`)
	start := time.Now()
	pgtest.WaitFor(t, "the verifier to report the deleted row", func() bool {
		return strings.Contains(out.String(), `"table":"public.items","range":"(1000, 1500]"`)
	})
	t.Logf("mismatch reported %s after the delete", time.Since(start).Round(time.Millisecond))
	if time.Since(start) > time.Minute {
		t.Errorf("the mismatch took %s to be reported", time.Since(start))
	}
	if n := scrape(t, url, "pgvecrep_verify_mismatches_total"); n < 1 {
		t.Errorf("pgvecrep_verify_mismatches_total = %v after a mismatch", n)
	}
	if code := stop(); code != 0 {
		t.Errorf("follow stopped with exit %d:\n%s", code, out.String())
	}
}

// TestFollowKilledDuringVectorBuild kills follow (a real process, kill -9)
// while it builds a deferred HNSW index, then starts it again: the index
// ends up built once and valid, and SIGTERM then stops follow with exit 0.
func TestFollowKilledDuringVectorBuild(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, bigTable)
	tgt.Exec(t, bigTable)
	src.Exec(t, vectorRows("big"))
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	mustRun(t, src, tgt, "start_sync", "-g", "d", "--jobs", "2")
	stopWriter := pgtest.StartWriter(t, src.URL, "big", 100_000)
	defer stopWriter()

	first := &lockedBuffer{}
	cmd := subprocess(t, src, tgt, "follow", "-g", "d", "--interval", "0.2", "--verify-rate", "0")
	cmd.Stdout, cmd.Stderr = first, first
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	src.Exec(t, `CREATE INDEX big_v ON big USING hnsw (v vector_l2_ops)`)
	killWhen(t, cmd, tgt, bigBuildProbe, first)

	second := &lockedBuffer{}
	cmd, done := restartFollow(t, src, tgt, second)
	pgtest.WaitFor(t, "the HNSW index to be built", func() bool {
		c := listDDL(t, src, tgt)
		return len(c) > 0 && c[len(c)-1].Status == "built"
	})
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indrelid = 'big'::regclass AND indisvalid AND NOT indisprimary"); n != 1 {
		t.Errorf("%d valid secondary index(es) on big, want 1", n)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indrelid = 'big'::regclass AND NOT indisvalid"); n != 0 {
		t.Errorf("%d invalid index(es) left on big", n)
	}
	if n := strings.Count(second.String(), "built index public.big_v"); n != 1 {
		t.Errorf("the restarted follow built the index %d times, want 1:\n%s", n, second.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follow after SIGTERM: %v\n%s", err, second.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("follow did not stop after SIGTERM:\n%s", second.String())
	}
}

// restartFollow starts follow as a process again, retrying while the
// killed one's session still holds the group on the server.
func restartFollow(t *testing.T, src, tgt pgtest.DB, out *lockedBuffer) (*exec.Cmd, <-chan error) {
	t.Helper()
	var cmd *exec.Cmd
	var done chan error
	pgtest.WaitFor(t, "the killed follow's lock to go", func() bool {
		cmd = subprocess(t, src, tgt, "follow", "-g", "d", "--interval", "0.2", "--verify-rate", "0")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done = make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		for {
			select {
			case <-done:
				if !strings.Contains(out.String(), "already followed") {
					t.Fatalf("follow ended by itself:\n%s", out.String())
				}
				return false
			case <-time.After(50 * time.Millisecond):
				if strings.Contains(out.String(), `"event":"status"`) {
					t.Cleanup(func() { _ = cmd.Process.Kill() })
					return true
				}
			}
		}
	})
	return cmd, done
}

// TestFollowAddedVectorColumnIndexed adds a vector column on the source
// while follow and a writer run, writes rows with it, then indexes it with
// HNSW: follow builds the index on the target once, valid, and the rows,
// the new column included, match by an ordered checksum.
func TestFollowAddedVectorColumnIndexed(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text, emb vector(3))`
	src.Exec(t, table)
	tgt.Exec(t, table)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text), ARRAY[i, 1, 2]::real[]::vector FROM generate_series(1, 3000) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	mustRun(t, src, tgt, "start_sync", "-g", "d", "--jobs", "2")
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	stopWriter := pgtest.StartWriter(t, src.URL, "items", 100_000)
	defer stopWriter()
	out, stop := startFollow(t, src, tgt, "-g", "d", "--interval", "0.2", "--verify-rate", "0")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("follow's output:\n%s", out.String())
		}
	})

	src.Exec(t, `ALTER TABLE items ADD COLUMN v2 vector(3)`)
	src.Exec(t, `UPDATE items SET v2 = ARRAY[1, i.id, 3]::real[]::vector FROM (SELECT id FROM items WHERE id <= 2000) i WHERE items.id = i.id`)
	src.Exec(t, `INSERT INTO items (id, note, v2) SELECT i, 'v2', ARRAY[i, i, 1]::real[]::vector FROM generate_series(3001, 3500) i`)
	src.Exec(t, `CREATE INDEX items_v2 ON items USING hnsw (v2 vector_l2_ops)`)
	pgtest.WaitFor(t, "the HNSW index on v2 to be built", func() bool {
		c := listDDL(t, src, tgt)
		return len(c) > 0 && strings.Contains(c[len(c)-1].Statement, "items_v2") && c[len(c)-1].Status == "built"
	})
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indexrelid = 'items_v2'::regclass AND indisvalid"); n != 1 {
		t.Error("the HNSW index on v2 is not valid on the target")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indrelid = 'items'::regclass AND NOT indisvalid"); n != 0 {
		t.Errorf("%d invalid index(es) left on items", n)
	}
	if n := strings.Count(out.String(), "built index public.items_v2"); n != 1 {
		t.Errorf("the index was built %d times, want 1:\n%s", n, out.String())
	}
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))
	if n := tgt.QueryInt(t, "SELECT count(*) FROM items WHERE v2 IS NOT NULL"); n != 2500 {
		t.Errorf("%d rows with v2 on the target, want 2500", n)
	}
	if code := stop(); code != 0 {
		t.Errorf("follow stopped with exit %d:\n%s", code, out.String())
	}
}
