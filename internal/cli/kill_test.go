package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds bin/pgvecrep once per test run: kill -9 needs a real process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pgvecrep-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pgvecrep")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/pgvecrep").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build pgvecrep: %v", buildErr)
	}
	return binPath
}

func subprocess(t *testing.T, src, tgt pgtest.DB, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "SOURCE_DB_URL="+src.URL, "TARGET_DB_URL="+tgt.URL)
	return cmd
}

// TestKillDuringStartSync kills pgvecrep with SIGKILL while it copies, and
// again while it builds indexes; each time the next start_sync cleans the
// broken group (slot included) and completes with identical data.
func TestKillDuringStartSync(t *testing.T) {
	for _, tc := range []struct {
		phase, probe string
	}{
		{"copying", "SELECT count(*) FROM pg_stat_progress_copy WHERE command = 'COPY FROM'"},
		{"indexing", "SELECT count(*) FROM pg_stat_progress_create_index"},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			env := pgtest.Get(t)
			src, tgt := env.Pair(t)
			table := `CREATE TABLE big (id bigint PRIMARY KEY, v vector(4), note text);`
			indexes := `CREATE INDEX big_v ON big USING hnsw (v vector_l2_ops);
				CREATE INDEX big_note ON big (note);`
			src.Exec(t, table)
			tgt.Exec(t, table+indexes)
			src.Exec(t, `INSERT INTO big SELECT i, format('[%s,%s,%s,%s]', random(), random(), random(), random())::vector,
				md5(i::text) || repeat('x', 400) FROM generate_series(1, 80000) i`)
			mustRun(t, src, tgt, "bootstrap", "-g", "k")

			cmd := subprocess(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killWhen(t, cmd, tgt, tc.probe, &out)
			if n := tgt.QueryInt(t, "SELECT count(*) FROM pgvecrep.groups WHERE phase = $1", tc.phase); n != 1 {
				t.Errorf("group not left in phase %s after kill -9", tc.phase)
			}

			r := rerun(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
			if !strings.Contains(r.stdout, "left in phase "+tc.phase) {
				t.Errorf("rerun did not say it cleaned the broken group:\n%s", r.stdout)
			}
			if a, b := tableSum(t, src), tableSum(t, tgt); a != b {
				t.Errorf("after rerun: source %s, target %s", a, b)
			}
			if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"); n != 1 {
				t.Errorf("%d slots on the source, want exactly the group's one", n)
			}
			if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE tablename = 'big' AND indexname IN ('big_v', 'big_note', 'big_pkey')"); n != 3 {
				t.Errorf("target has %d indexes on big, want 3", n)
			}
			mustRun(t, src, tgt, "cleanup", "-g", "k")
			pgtest.AssertNoReplication(t, src, tgt)
		})
	}
}

// killWhen sends SIGKILL as soon as probe (run on the target) counts a row.
func killWhen(t *testing.T, cmd *exec.Cmd, tgt pgtest.DB, probe string, out *bytes.Buffer) {
	t.Helper()
	conn := tgt.Conn(t)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int64
		if err := conn.QueryRow(context.Background(), probe).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the probe never fired:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// rerun runs a command, retrying while the killed process's session still
// holds the group's lock on the server.
func rerun(t *testing.T, src, tgt pgtest.DB, args ...string) cliResult {
	t.Helper()
	var r cliResult
	pgtest.WaitFor(t, "the killed process's lock to go", func() bool {
		r = pgvecrep(t, src, tgt, args...)
		if r.code != 0 && !strings.Contains(r.stderr, "another pgvecrep") {
			t.Fatalf("pgvecrep %s exited %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.code == 0
	})
	return r
}

func tableSum(t *testing.T, db pgtest.DB) string {
	t.Helper()
	return db.QueryStrings(t, `SELECT count(*)::text || ':' || md5(string_agg(id::text || v::text || note, ',' ORDER BY id)) FROM big`)[0]
}
