package cli

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// secretPassword is the clusters' password in TestSecretsFullFlow: long and
// odd enough that finding it anywhere can only mean a leak.
const secretPassword = "Zq7-Leak-Canary-4411-xY"

// TestSecretsFullFlow runs every command of a group's life as a real process
// against clusters that take only TLS logins with a scram-sha-256 password,
// with the servers logging every statement and connection, including a
// start_sync whose subscription cannot reach the source, and --verbose
// (every SQL statement in the log). It collects every stdout and stderr,
// both server logs, the pgvecrep metadata on both sides, and the process
// list, read every ~50 ms while the commands run (pg_dump and the servers'
// replication workers included): the password appears in none of them.
func TestSecretsFullFlow(t *testing.T) {
	ca, err := localpg.NewCA("pgvecrep secrets CA")
	if err != nil {
		t.Fatal(err)
	}
	env := pgtest.StartEnv(t, localpg.Options{TLS: ca, Password: secretPassword, Settings: map[string]string{
		"log_statement": "all", "log_connections": "on", "log_min_messages": "info", "log_min_duration_statement": "0"}})
	src, tgt := env.Pair(t)
	if !strings.Contains(src.URL, secretPassword) {
		t.Fatalf("the source URL has no password to leak: %s", src.URL)
	}
	src.Exec(t, `CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3) NOT NULL);
		CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops);
		INSERT INTO items (embedding) SELECT format('[%s,1,2]', i)::vector FROM generate_series(1, 2000) i`)

	var collected []named
	ps := watchProcesses(t)
	run := func(extraEnv []string, wantOK bool, args ...string) {
		t.Helper()
		cmd := subprocess(t, src, tgt, append([]string{"--verbose"}, args...)...)
		cmd.Env = append(cmd.Env, extraEnv...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		collected = append(collected, named{"stdout of " + args[0], out.String()}, named{"stderr of " + args[0], errb.String()})
		if (err == nil) != wantOK {
			t.Fatalf("pgvecrep %s: %v (want success %v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, wantOK, out.String(), errb.String())
		}
	}
	// A subscription address with a wrong port: the probe's CREATE
	// SUBSCRIPTION, password and all, fails on the target's server.
	badPort := (&url.URL{Scheme: "postgres", User: url.UserPassword(env.Source.User, secretPassword),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(freeTCPPort(t))), Path: "/" + src.Name}).String()

	run(nil, true, "config_check", "--copy-schema")
	run(nil, true, "bootstrap", "-g", "sec", "--copy-schema")
	run([]string{"SECONDARY_SOURCE_DB_URL=" + badPort}, false, "start_sync", "-g", "sec")
	collected = append(collected, metadata(t, src, tgt)...)
	run(nil, true, "start_sync", "-g", "sec")
	src.Exec(t, "INSERT INTO items (embedding) VALUES ('[0,0,0]')")
	tgt.WaitCount(t, "items", 2001)
	run(nil, true, "stats", "-g", "sec")
	run(nil, true, "stats", "-g", "sec", "--json")
	run(nil, true, "verify", "-g", "sec")
	run(nil, true, "switchover", "-g", "sec", "--lag-delta-size", "100kB")
	collected = append(collected, metadata(t, src, tgt)...)
	run(nil, true, "cleanup", "-g", "sec")
	run(nil, true, "cleanup", "--restore-source-writes", "-g", "sec")
	snapshots := ps.stop()
	if len(snapshots) < 10 {
		t.Errorf("only %d process list snapshots were taken", len(snapshots))
	}
	collected = append(collected, snapshots...)
	for _, c := range []*localpg.Cluster{env.Source, env.Target} {
		b, err := os.ReadFile(filepath.Join(c.Dir, "server.log"))
		if err != nil {
			t.Fatal(err)
		}
		collected = append(collected, named{"server log " + c.Dir, string(b)})
	}
	// The collection saw what it was meant to: the runs in the process
	// list, the statements in the logs, the failed run in the metadata.
	all := func(prefix string) string {
		var b strings.Builder
		for _, c := range collected {
			if strings.HasPrefix(c.name, prefix) {
				b.WriteString(c.text)
			}
		}
		return b.String()
	}
	for prefix, want := range map[string]string{
		"ps snapshot": "pgvecrep --verbose start_sync",
		"server log":  "statement: SELECT",
		"metadata":    "cannot reach the source",
		"stderr of":   "level=DEBUG",
	} {
		if !strings.Contains(all(prefix), want) {
			t.Errorf("no %s holds %q: the collection missed what it should check", prefix, want)
		}
	}
	for _, c := range collected {
		if i := strings.Index(c.text, secretPassword); i >= 0 {
			t.Errorf("the password appears in %s: ...%s...", c.name, excerpt(c.text, i))
		}
	}
}

// named is one collected text and where it came from.
type named struct{ name, text string }

func excerpt(s string, i int) string {
	from, to := max(0, i-200), min(len(s), i+len(secretPassword)+50)
	return strings.ReplaceAll(s[from:to], secretPassword, "<PASSWORD>")
}

// freeTCPPort is a loopback port nothing listens on.
func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// metadata is every row of every table in the pgvecrep schema of both
// sides, as text.
func metadata(t *testing.T, dbs ...pgtest.DB) []named {
	t.Helper()
	var out []named
	for _, db := range dbs {
		for _, table := range db.QueryStrings(t, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'pgvecrep'`) {
			rows := db.QueryStrings(t, "SELECT t::text FROM "+table+" t")
			out = append(out, named{"metadata " + db.Cluster.Dir + " " + table, strings.Join(rows, "\n")})
		}
	}
	return out
}

// psWatcher reads the process list every ~50 ms until stopped.
type psWatcher struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	snaps  []named
	fail   error
}

func watchProcesses(t *testing.T) *psWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &psWatcher{cancel: cancel}
	t.Cleanup(cancel)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			out, err := exec.Command("ps", "-eo", "args").Output()
			w.mu.Lock()
			if err != nil && w.fail == nil {
				w.fail = err
			}
			w.snaps = append(w.snaps, named{"ps snapshot " + strconv.Itoa(n), string(out)})
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *psWatcher) stop() []named {
	w.cancel()
	w.wg.Wait()
	if w.fail != nil {
		w.snaps = append(w.snaps, named{"ps error", w.fail.Error()})
	}
	return w.snaps
}
