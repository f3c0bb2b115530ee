package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// groupCommands are the commands that take -g, each with the flags it
// needs besides -g to get as far as the group.
var groupCommands = map[string][]string{
	"start_sync":       nil,
	"follow":           {"--verify-rate", "0"},
	"stats":            nil,
	"notify":           {"-u", "http://127.0.0.1:1/hook"},
	"metrics":          {"--listen", "127.0.0.1:0"},
	"verify":           nil,
	"switchover":       nil,
	"switchback":       nil,
	"failover":         nil,
	"stop_sync":        nil,
	"cleanup":          nil,
	"list_ddl_changes": nil,
	"apply_ddl_change": nil,
	"bootstrap":        nil,
}

// TestGroupCommandsCovered: the table above lists every command whose
// flags include -g, so a new one cannot miss the tests below.
func TestGroupCommandsCovered(t *testing.T) {
	for name := range commands {
		r := runWith(context.Background(), t, nil, name, "--help")
		_, listed := groupCommands[name]
		if takes := strings.Contains(r.stdout+r.stderr, "-g, --group-name"); takes != listed {
			t.Errorf("%s takes -g: %v, listed in groupCommands: %v", name, takes, listed)
		}
	}
}

// TestMistypedGroupEveryCommand: a -g the target does not know gets, from
// every command but bootstrap (the only one that creates groups), the
// nearest name and the list of groups; never "run bootstrap" to someone
// who is stopping, cleaning up or watching. An empty target says so.
func TestMistypedGroupEveryCommand(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	empty, emptyTgt := env.Pair(t)
	mustRun(t, src, tgt, "bootstrap", "-g", "orders-prod")
	mustRun(t, src, tgt, "bootstrap", "-g", "orders-dev")
	for _, cmd := range sortedGroupCommands() {
		if cmd == "bootstrap" {
			continue
		}
		t.Run(cmd, func(t *testing.T) {
			for _, typo := range []string{"orders-prd", "orders_prod", "order-prod"} {
				r := pgvecrep(t, src, tgt, append([]string{cmd, "-g", typo}, groupCommands[cmd]...)...)
				assertUserError(t, r, fmt.Sprintf("group %q: group not found on the target", typo),
					"hint: did you mean -g orders-prod? (groups on the target: orders-prod, orders-dev)")
				assertNoBootstrap(t, r)
			}
			r := pgvecrep(t, src, tgt, append([]string{cmd, "-g", "nosuch"}, groupCommands[cmd]...)...)
			assertUserError(t, r, `group "nosuch": group not found on the target`, "hint: groups on the target: orders-prod, orders-dev")
			if cmd != "start_sync" {
				assertNoBootstrap(t, r)
			}
			r = pgvecrep(t, empty, emptyTgt, append([]string{cmd, "-g", "nosuch"}, groupCommands[cmd]...)...)
			want := "hint: no group has been bootstrapped on this target: check TARGET_DB_URL"
			if cmd == "start_sync" {
				want = "hint: the target has no pgvecrep group yet; pgvecrep bootstrap -g nosuch creates it, then run start_sync again"
			}
			assertUserError(t, r, `group "nosuch": group not found on the target`, want)
		})
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pgvecrep.groups"); n != 2 {
		t.Errorf("the target has %d groups after the typos, want 2", n)
	}
}

// assertNoBootstrap fails when an unknown group's error tells the user to
// bootstrap it.
func assertNoBootstrap(t *testing.T, r cliResult) {
	t.Helper()
	if strings.Contains(r.stderr, "bootstrap") {
		t.Errorf("the hint sends the user to bootstrap:\n%s", r.stderr)
	}
}

func sortedGroupCommands() []string {
	names := make([]string, 0, len(groupCommands))
	for n := range groupCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestInterruptHintEveryCommand: a Ctrl-C that stops any command taking -g
// before it is done ends with the command to start it again as it was
// typed, every flag included (in its short spelling, when it has one), and
// no password. The context is cancelled
// before the command starts, so each is cut off while it connects.
func TestInterruptHintEveryCommand(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	extra := map[string][]string{
		"bootstrap":  {"-c", "--schema-name", "app,audit"},
		"start_sync": {"-t", "docs", "--copy-mode", "native", "--jobs", "2"},
		"switchover": {"-l", "100kB", "-s"},
		"verify":     {"-t", "docs", "--sample", "5"},
		"cleanup":    {"-s"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, cmd := range sortedGroupCommands() {
		args := append(append([]string{cmd, "-g", "cc"}, groupCommands[cmd]...), extra[cmd]...)
		args = append(args, "--target-url", strings.Replace(tgt.URL, tgt.Cluster.User+"@", tgt.Cluster.User+":Sup3rSecret@", 1))
		r := runWith(ctx, t, map[string]string{"SOURCE_DB_URL": src.URL}, args...)
		code := r.code
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		hint := lines[len(lines)-1]
		if code != interruptedCode || !slices.Contains(lines, "pgvecrep: interrupted (Ctrl-C)") ||
			!strings.HasPrefix(hint, "hint: start again with: pgvecrep "+cmd+" -g cc") {
			t.Errorf("%s: exit %d\n%s", cmd, code, r.stderr)
			continue
		}
		for _, a := range append(groupCommands[cmd], extra[cmd]...) {
			if !strings.Contains(hint, " "+a) {
				t.Errorf("%s: the restart hint lacks %q: %s", cmd, a, hint)
			}
		}
		if strings.Contains(r.stderr, "Sup3rSecret") || strings.Contains(hint, "--target-url") {
			t.Errorf("%s: the restart hint repeats a URL with a password: %s", cmd, hint)
		}
	}
}

// TestInterruptedStartSyncRemembersSelection: after start_sync -t big
// --copy-mode native is interrupted, the hint repeats those flags and says
// the group remembers them, and a plain start_sync -g cc then replicates
// big alone, natively, where the default would have taken items too.
func TestInterruptedStartSyncRemembersSelection(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	fillBig(t, src, tgt)
	items := `CREATE TABLE items (id int PRIMARY KEY, v vector(3));`
	src.Exec(t, items+`INSERT INTO items SELECT i, '[1,2,3]' FROM generate_series(1, 10) i`)
	tgt.Exec(t, items)
	mustRun(t, src, tgt, "bootstrap", "-g", "cc")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan cliResult, 1)
	go func() {
		done <- runWith(ctx, t, pgtest.URLs(src, tgt), "start_sync", "-g", "cc", "-t", "big", "--copy-mode", "native")
	}()
	waitFor(t, &lockedBuffer{}, tgt, bigBuildProbe, "the index build to start")
	cancel()
	r := <-done
	want := "hint: what this run created was removed and the target's indexes restored (see above); " +
		"start again with: pgvecrep start_sync -g cc --copy-mode native -t big " +
		"(the group remembers -t big --copy-mode native: pgvecrep start_sync -g cc alone reuses it)\n"
	if r.code != interruptedCode || !strings.HasSuffix(r.stderr, want) {
		t.Fatalf("interrupted start_sync: exit %d, want the hint\n%s\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	pgtest.AssertNoReplication(t, src, tgt)

	r = rerun(t, src, tgt, "start_sync", "-g", "cc")
	if !strings.Contains(r.stdout, "group cc: using the selection it recorded: -t big --copy-mode native (flags given on the command line win)") {
		t.Errorf("the plain start_sync does not say it reuses the selection:\n%s", r.stdout)
	}
	got := tgt.QueryStrings(t, "SELECT table_name || ' ' || copy_mode FROM pgvecrep.tables JOIN pgvecrep.groups ON name = group_name")
	if !slices.Equal(got, []string{"big native"}) {
		t.Errorf("the group replicates %v, want [big native]", got)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM items"); n != 0 {
		t.Errorf("items, left out by -t big, has %d rows on the target", n)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "cc")
}
