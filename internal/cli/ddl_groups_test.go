package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// listDDLOf is list_ddl_changes' JSON for group.
func listDDLOf(t *testing.T, src, tgt pgtest.DB, group string) []struct {
	ddlChange
	Kind string `json:"kind"`
	Note string `json:"note"`
} {
	t.Helper()
	var out []struct {
		ddlChange
		Kind string `json:"kind"`
		Note string `json:"note"`
	}
	r := mustRun(t, src, tgt, "list_ddl_changes", "-g", group)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("list_ddl_changes -g %s: %v\n%s", group, err, r.stdout)
	}
	return out
}

// TestTwoGroupsShareASchema is pg_easy_replicate's own pattern: two groups
// of chosen tables in one schema (g1 -t users,posts and g2 -t comments),
// default --ddl auto, writers on both. A table created next to them (with
// rows) joins neither group, and neither records it; a change of comments
// reaches g2 alone, also when it comes in one message with the CREATE
// TABLE; an index on users is g1's alone, and its drop too. Both groups
// keep streaming throughout, apply_ddl_change on either leaves its tables
// as they were, and every table ends identical on both sides.
func TestTwoGroupsShareASchema(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	for _, db := range []pgtest.DB{src, tgt} {
		db.Exec(t, `CREATE TABLE users (id bigint PRIMARY KEY, name text);
			CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint, body text);
			CREATE TABLE comments (id bigint PRIMARY KEY, body text)`)
	}
	src.Exec(t, `INSERT INTO users SELECT i, 'u' || i FROM generate_series(1, 100) i;
		INSERT INTO posts SELECT i, i, 'p' || i FROM generate_series(1, 100) i;
		INSERT INTO comments SELECT i, 'c' || i FROM generate_series(1, 100) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "g1")
	mustRun(t, src, tgt, "start_sync", "-g", "g1", "-t", "users,posts")
	mustRun(t, src, tgt, "bootstrap", "-g", "g2")
	mustRun(t, src, tgt, "start_sync", "-g", "g2", "-t", "comments")
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	stopUsers := pgtest.StartWriter(t, src.URL, "users", 100_000)
	defer stopUsers()
	stopComments := pgtest.StartWriter(t, src.URL, "comments", 100_000)
	defer stopComments()

	src.Exec(t, `CREATE TABLE likes (id int PRIMARY KEY)`)
	src.Exec(t, `INSERT INTO likes SELECT generate_series(1, 10)`)
	src.Exec(t, `ALTER TABLE comments ADD COLUMN score int`)
	src.Exec(t, `INSERT INTO comments (id, body, score) VALUES (1000, 'x', 5)`)
	// One message: the statement g2 ignores must not shift the one it keeps.
	src.Exec(t, `CREATE TABLE likes2 (id int PRIMARY KEY); ALTER TABLE comments ADD COLUMN flag boolean DEFAULT true`)
	src.Exec(t, `INSERT INTO comments (id, body, score, flag) VALUES (1001, 'y', 6, false)`)
	src.Exec(t, `CREATE INDEX users_name ON users (name)`)
	src.Exec(t, `DROP INDEX users_name`)
	src.Exec(t, `DROP TABLE likes2`)

	pgtest.SameRows(t, sconn, tconn, "comments", pgtest.WrittenSoFar(t, sconn, "comments"))
	pgtest.SameRows(t, sconn, tconn, "users", pgtest.WrittenSoFar(t, sconn, "users"))
	if n := src.QueryInt(t, `SELECT count(*) FROM pg_publication_tables WHERE tablename LIKE 'likes%'`); n != 0 {
		t.Errorf("likes is in %d publication(s); no group selects it", n)
	}
	want := map[string][]string{
		"g1": {"CREATE INDEX users_name", "DROP INDEX IF EXISTS users_name"},
		"g2": {"ALTER TABLE comments ADD COLUMN score int", "ALTER TABLE comments ADD COLUMN flag boolean DEFAULT true"},
	}
	for g, stmts := range want {
		changes := listDDLOf(t, src, tgt, g)
		if len(changes) != len(stmts) {
			t.Errorf("group %s recorded %d change(s), want %d: %+v", g, len(changes), len(stmts), changes)
			continue
		}
		for i, c := range changes {
			if !strings.HasPrefix(c.Statement, stmts[i]) || c.Kind != "replay" {
				t.Errorf("group %s change %d: %q (%s %s), want %q replayed", g, i, c.Statement, c.Kind, c.Note, stmts[i])
			}
		}
	}
	for _, g := range []string{"g1", "g2"} {
		r := mustRun(t, src, tgt, "apply_ddl_change", "-g", g)
		if strings.Contains(r.stdout, "now has") || strings.Contains(r.stdout, "refreshed") {
			t.Errorf("apply_ddl_change -g %s changed the group's tables:\n%s", g, r.stdout)
		}
		if phase := statsPhase(t, src, tgt, g); phase != "streaming" {
			t.Errorf("group %s is %s, want streaming", g, phase)
		}
	}
	src.Exec(t, `DROP TABLE likes`)
	stopUsers()
	stopComments()
	for _, table := range []string{"users", "posts", "comments"} {
		pgtest.SameRows(t, sconn, tconn, table, "true")
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'likes%'`); n != 0 {
		t.Errorf("likes reached the target (%d table(s))", n)
	}
	for _, g := range []string{"g1", "g2"} {
		if phase := statsPhase(t, src, tgt, g); phase != "streaming" {
			t.Errorf("group %s ends %s, want streaming", g, phase)
		}
	}
}
