package cli

import (
	"context"
	"strings"
	"testing"
)

// runOffline runs pgvecrep with URLs that cannot be reached: a check that
// happens before connecting shows as exit 2 and its message, one that does
// not as a connection error.
func runOffline(t testing.TB, args ...string) cliResult {
	t.Helper()
	return runWith(context.Background(), t, map[string]string{
		"SOURCE_DB_URL": "postgres://u:Sup3rSecret@127.0.0.1:1/db?connect_timeout=2",
		"TARGET_DB_URL": "postgres://u:Sup3rSecret@127.0.0.1:1/db?connect_timeout=2",
	}, args...)
}

func TestFlagValuesCheckedBeforeConnecting(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		msg, hint string
	}{
		{[]string{"start_sync", "-g", "g", "--jobs", "abc"}, `--jobs wants a whole number ≥ 1, got "abc"`, "start_sync --help"},
		{[]string{"start_sync", "-g", "g", "--jobs=0"}, `--jobs wants a whole number ≥ 1, got "0"`, ""},
		{[]string{"start-sync", "--group_name", "g", "--copy_mode", "fastest"}, `--copy-mode wants fast or native, got "fastest"`, ""},
		{[]string{"start_sync", "-g", "g", "--index-memory", "lots"}, `--index-memory`, "2GB"},
		{[]string{"switchover", "-g", "g", "-l", "much"}, `--lag-delta-size`, "204800"},
		{[]string{"switchover", "-g", "g", "--timeout", "-1s"}, `--timeout wants a positive duration`, ""},
		{[]string{"stats", "-g", "g", "--interval", "soon"}, `--interval wants a positive duration`, ""},
		{[]string{"stats", "-g", "g", "--wacth"}, "unknown flag --wacth", "did you mean --watch?"},
		{[]string{"stats", "-g", "g", "-x"}, "unknown flag -x", "stats --help"},
		{[]string{"start_sync", "-g", "g", "--exclude_tabels", "a"}, "unknown flag --exclude_tabels", "did you mean --exclude-tables?"},
		{[]string{"stats", "-g"}, "--group-name needs a value", ""},
		{[]string{"strat_sync", "-g", "g"}, `unknown command "strat_sync"`, "did you mean pgvecrep start_sync?"},
		{[]string{"list_ddl_changes", "-g", "g", "-l", "x"}, `--limit wants a whole number ≥ 1, got "x"`, ""},
		{[]string{"verify", "-g", "g", "--chunk-rows", "0"}, `--chunk-rows wants a whole number ≥ 1, got "0"`, ""},
	} {
		r := runOffline(t, tc.args...)
		line, _, _ := strings.Cut(r.stderr, "\n")
		if r.code != 2 || !strings.Contains(line, tc.msg) || !strings.Contains(r.stderr, "hint: ") || !strings.Contains(r.stderr, tc.hint) {
			t.Errorf("pgvecrep %s: exit %d, want 2 and %q (hint %q):\n%s", strings.Join(tc.args, " "), r.code, tc.msg, tc.hint, r.stderr)
		}
		if strings.Contains(r.stderr, "connect") {
			t.Errorf("pgvecrep %s connected before checking its flags:\n%s", strings.Join(tc.args, " "), r.stderr)
		}
	}
}

// TestFlagSpellings: pg_easy_replicate's short flags and underscore
// spellings reach the same flags; accepted-but-replaced flags say what
// pgvecrep does instead, then the command goes on (here: to connect).
func TestFlagSpellings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		note string
	}{
		{[]string{"start_sync", "-g", "g", "-r", "-s", "public", "-e", "a,b"}, "--recreate-indices-post-copy: indexes are always built after"},
		{[]string{"start_sync", "--group_name", "g", "--recreate_indices_post_copy", "--track_ddl", "--exclude_tables", "a"}, "--recreate-indices-post-copy"},
		{[]string{"bootstrap", "-g", "g", "-c", "-d", "-s", "rds_superuser"}, ""},
		{[]string{"switchover", "-g", "g", "-l", "100000", "-s"}, ""},
		{[]string{"cleanup", "-g", "g", "-s", "-r"}, ""},
		{[]string{"cleanup", "-g", "g", "--restore_connection_on_source_db"}, ""},
		{[]string{"stats", "-g", "g", "-w"}, ""},
		{[]string{"config_check", "-c", "-s", "app", "-t", "items"}, ""},
	} {
		r := runOffline(t, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, "connect") || !strings.Contains(r.stderr, tc.note) {
			t.Errorf("pgvecrep %s: exit %d, want 1 at connecting, note %q:\n%s%s", strings.Join(tc.args, " "), r.code, tc.note, r.stdout, r.stderr)
		}
	}
}

func TestHelpShowsBothSpellings(t *testing.T) {
	for cmd, want := range map[string][]string{
		"bootstrap":  {"-s, --special-user-role, --special_user_role VALUE", "-c, --copy-schema, --copy_schema", "-d, --track-ddl, --track_ddl", "--schema-name, --schema_name VALUE"},
		"start_sync": {"-e, --exclude-tables, --exclude_tables VALUE", "-r, --recreate-indices-post-copy", "-s, --schema-name"},
		"switchover": {"-l, --lag-delta-size", "-s, --skip-vacuum-analyze"},
		"cleanup":    {"-e, --everything", "-s, --sync", "-r, --restore-source-writes", "--restore-connection-on-source-db"},
	} {
		r := runOffline(t, cmd, "--help")
		for _, w := range want {
			if r.code != 0 || !strings.Contains(r.stdout, w) {
				t.Errorf("%s --help lacks %q:\n%s", cmd, w, r.stdout)
			}
		}
	}
	r := runOffline(t, "--help")
	for _, w := range []string{"version", "list_ddl_changes", "notify"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("--help lacks %q", w)
		}
	}
}

func TestStatementTimeoutChecked(t *testing.T) {
	r := runWith(context.Background(), t, map[string]string{"PG_EASY_REPLICATE_STATEMENT_TIMEOUT": "soon", "TARGET_DB_URL": "postgres://127.0.0.1:1/x"},
		"stats", "-g", "g")
	if r.code != 2 || !strings.Contains(r.stderr, "PG_EASY_REPLICATE_STATEMENT_TIMEOUT") {
		t.Errorf("exit %d:\n%s", r.code, r.stderr)
	}
}
