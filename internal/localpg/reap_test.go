package localpg

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// reapChildEnv makes the test binary act as a process that starts a cluster
// and then dies without stopping it.
const reapChildEnv = "PGVECREP_LOCALPG_REAP_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(reapChildEnv) == "1" {
		os.Exit(orphanMaker())
	}
	os.Exit(testenv.Main(m))
}

// orphanMaker starts a cluster, prints its directory and URL, and waits to
// be killed.
func orphanMaker() int {
	c, err := Start(context.Background(), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s\t%s\n", c.Dir, c.URL("postgres"))
	select {}
}

// TestReapOrphan starts a cluster from a child process, kills the child with
// SIGKILL, checks the cluster outlives it, and then that the next Start stops
// and removes it while a live process's cluster keeps running.
func TestReapOrphan(t *testing.T) {
	requirePG(t)
	ctx := context.Background()
	live, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Stop()

	dir, url := startOrphan(t)
	if err := ping(ctx, url); err != nil {
		t.Fatalf("the orphan does not outlive its owner, so there is nothing to reap: %v", err)
	}

	next, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("orphaned cluster directory %s still exists after the next Start", dir)
	}
	if err := ping(ctx, url); err == nil {
		t.Errorf("orphaned server still answers after the next Start")
	}
	if err := ping(ctx, live.URL("postgres")); err != nil {
		t.Errorf("the reaper stopped a live process's cluster: %v", err)
	}
	if !fileExists(filepath.Join(live.Dir, ownerFile)) {
		t.Errorf("the live cluster lost its owner record")
	}
}

// startOrphan runs the test binary as orphanMaker, waits for its cluster and
// kills it with SIGKILL, so no deferred Stop can run.
func startOrphan(t *testing.T) (dir, url string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), reapChildEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if kerr := cmd.Process.Kill(); kerr != nil {
		t.Fatal(kerr)
	}
	_ = cmd.Wait()
	if err != nil {
		t.Fatalf("child did not report its cluster: %v", err)
	}
	dir, url, ok := strings.Cut(strings.TrimSpace(line), "\t")
	if !ok {
		t.Fatalf("child printed %q", line)
	}
	t.Cleanup(func() { // in case the reaper failed
		if fileExists(filepath.Join(dir, "data", "postmaster.pid")) {
			c := &Cluster{Dir: dir, DataDir: filepath.Join(dir, "data"), ownDir: true}
			if c.BinDir, err = FindBinDir(); err == nil && c.setOwner() == nil {
				_ = c.Stop()
			}
		}
	})
	return dir, url
}

func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

func requirePG(t *testing.T) {
	t.Helper()
	_, err := FindBinDir()
	testenv.Need(t, "PostgreSQL's server binaries", err)
}
