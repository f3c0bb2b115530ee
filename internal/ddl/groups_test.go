package ddl

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// TestWholeSchemaBesideChosenTables: group w replicates schema public
// (items; start_sync -s public -e comments) and group c only comments
// (start_sync -t comments), into one target. Each statement reaches the
// one group whose objects it touches: comments' column, index and index
// drop go to c alone (w replaying them too would fail on the target, where
// c made them already), items' column, a new table and its drop to w
// alone, also when one message holds statements of both. Both keep
// streaming, with a writer on comments.
func TestWholeSchemaBesideChosenTables(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	tables := `CREATE TABLE items (id bigint PRIMARY KEY); CREATE TABLE comments (id bigint PRIMARY KEY, body text)`
	src.Exec(t, tables)
	tgt.Exec(t, tables)
	ctx := context.Background()
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	if err := group.EnsureSchema(ctx, tconn); err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct {
		name, table string
		scope       Scope
	}{{"w", "items", WholeSchemas}, {"c", "comments", TablesOnly}} {
		if _, err := group.Create(ctx, tconn, g.name); err != nil {
			t.Fatal(err)
		}
		if err := SaveScope(ctx, tconn, g.name, g.scope); err != nil {
			t.Fatal(err)
		}
		obj := group.ObjectName(g.name)
		src.Exec(t, fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s", obj, g.table))
		if err := Install(ctx, sconn, tconn, g.name, Auto, []string{"public"}); err != nil {
			t.Fatal(err)
		}
		tgt.Exec(t, fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION '%s' PUBLICATION %s WITH (copy_data = false)", obj, src.URL, obj))
	}
	stop := pgtest.StartWriter(t, src.URL, "comments", 0)
	defer stop()

	// One message: w must replay the second ALTER TABLE, not c's first.
	src.Exec(t, `ALTER TABLE comments ADD COLUMN score int; ALTER TABLE items ADD COLUMN note text`)
	src.Exec(t, `CREATE INDEX comments_score ON comments (score); CREATE TABLE fresh (id int PRIMARY KEY)`)
	src.Exec(t, `DROP INDEX comments_score`)
	src.Exec(t, `DROP TABLE fresh`)
	src.Exec(t, `UPDATE comments SET score = 1`)
	pgtest.SameRows(t, sconn, tconn, "comments", pgtest.WrittenSoFar(t, sconn, "comments"))

	want := map[string][]string{
		"w": {"ALTER TABLE items ADD COLUMN note text", "CREATE TABLE fresh (id int PRIMARY KEY)", "DROP TABLE fresh"},
		"c": {"ALTER TABLE comments ADD COLUMN score int", "CREATE INDEX comments_score ON public.comments USING btree (score)", "DROP INDEX IF EXISTS comments_score"},
	}
	for g, stmts := range want {
		changes, err := List(ctx, sconn, tconn, g, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range changes {
			got = append(got, ch.Statement)
			if ch.Kind != "replay" {
				t.Errorf("group %s: change %q is %s (%s)", g, ch.Statement, ch.Kind, ch.Note)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(stmts) {
			t.Errorf("group %s recorded %q, want %q", g, got, stmts)
		}
	}
	stop()
	pgtest.SameRows(t, sconn, tconn, "comments", "true")
	for _, g := range []string{"w", "c"} {
		pgtest.WaitFor(t, "group "+g+" to apply everything", func() bool {
			var lsn string
			if err := sconn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
				t.Fatal(err)
			}
			var ok bool
			err := sconn.QueryRow(ctx, "SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2",
				lsn, group.ObjectName(g)).Scan(&ok)
			return err == nil && ok
		})
		if h, err := replication.SubscriptionHealth(ctx, tconn, group.ObjectName(g)); err != nil || h.Stalled || h.ApplyErrors > 0 {
			t.Errorf("group %s: health %+v, %v", g, h, err)
		}
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE indexname = 'comments_score'"); n != 0 {
		t.Error("comments_score is still on the target")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'"); n != 1 {
		t.Error("items.note is not on the target")
	}
}
