package localpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A process that dies without calling Stop (a test binary killed by its own
// -timeout, kill -9, a crash) leaves its servers running: pg_ctl detaches
// the postmaster, so nothing else stops it, and every leak costs a port,
// shared memory and a directory until the machine reboots. So each cluster
// in a directory of our own records its owner, and every Start first stops
// and removes the clusters whose owner is gone. The owner is the process id
// and its start time: a pid alone can be reused by an unrelated process,
// which would keep an orphan alive but never reap a live cluster.

// dirPrefix names the temp directories Start creates; the reaper looks only there.
const dirPrefix = "pgvecrep-pg-"

// ownerFile holds "pid start-time" of the process that started the cluster.
const ownerFile = "owner"

// writeOwner records the current process as the owner of the cluster in c.Dir.
func (c *Cluster) writeOwner() error {
	pid := os.Getpid()
	rec := fmt.Sprintf("%d %s\n", pid, startTime(pid))
	if err := os.WriteFile(filepath.Join(c.Dir, ownerFile), []byte(rec), 0o644); err != nil {
		return fmt.Errorf("record cluster owner: %w", err)
	}
	return nil
}

// Keep hands the cluster over to whoever runs it next: it removes the owner
// record, so the reaper never stops the server once this process exits.
// Callers that leave a cluster running on purpose (bench -keep) need it.
func (c *Cluster) Keep() error {
	err := os.Remove(filepath.Join(c.Dir, ownerFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("keep cluster %s: %w", c.Dir, err)
	}
	return nil
}

// startTime is the process's start time in clock ticks since boot (field 22
// of /proc/PID/stat), or "" where there is no /proc.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// alive reports whether the process recorded as "pid start-time" still runs.
func alive(rec string) bool {
	f := strings.Fields(rec)
	if len(f) == 0 {
		return true // unreadable: leave it alone
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return true
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	if len(f) < 2 {
		return true
	}
	now := startTime(pid)
	return now == "" || now == f[1]
}

// Reap stops and removes every cluster under the temp directory whose owner
// process is gone, and returns the directories it removed. Start calls it;
// clusters of live processes, kept clusters and directories without an owner
// record (still being created) are left alone.
func Reap(ctx context.Context) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	if err != nil {
		return nil, err
	}
	var reaped []string
	var errs []error
	for _, dir := range dirs {
		ok, err := reapOne(ctx, dir)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			reaped = append(reaped, dir)
		}
	}
	return reaped, errors.Join(errs...)
}

// reapOne reaps dir if its owner is gone. Two processes may reap at once:
// renaming the owner record is the claim, and only the winner goes on.
func reapOne(ctx context.Context, dir string) (bool, error) {
	rec, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil || alive(string(rec)) {
		return false, nil
	}
	claim := filepath.Join(dir, ownerFile+".reaping")
	if err := os.Rename(filepath.Join(dir, ownerFile), claim); err != nil {
		return false, nil // another process won
	}
	bin, err := FindBinDir()
	if err != nil {
		return false, err
	}
	c := &Cluster{BinDir: bin, Dir: dir, DataDir: filepath.Join(dir, "data"), ownDir: true}
	if err := c.setOwner(); err != nil {
		return false, err
	}
	if err := c.stopOrphan(ctx); err != nil {
		_ = os.Rename(claim, filepath.Join(dir, ownerFile)) // the next Start tries again
		return false, fmt.Errorf("reap orphaned cluster %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("reap orphaned cluster %s: %w", dir, err)
	}
	return true, nil
}

// stopOrphan stops the cluster's server at once if it still runs. There is
// nothing to keep, so there is no reason to wait for a checkpoint.
func (c *Cluster) stopOrphan(ctx context.Context) error {
	if !c.postmasterAlive() {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := c.run(sctx, "pg_ctl", "-D", c.DataDir, "-m", "immediate", "-w", "stop")
	if err != nil && c.postmasterAlive() {
		return err
	}
	return nil
}

// postmasterAlive reports whether the pid in postmaster.pid runs: a server
// killed with its machine leaves the file behind.
func (c *Cluster) postmasterAlive() bool {
	b, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return false
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
