package follow

import (
	"context"
	"os"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestCursorChunks walks a table with a gap in its keys in chunks of 500:
// each chunk holds 500 rows but the last, and together they hold them all.
func TestCursorChunks(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id bigint PRIMARY KEY, note text)`)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 3000) i`)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text) FROM generate_series(100001, 100400) i`)
	conn := src.Conn(t)
	ctx := context.Background()
	c, err := newCursor(ctx, conn, pg.Name{Schema: "public", Name: "items"}, 500)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for done := false; !done; {
		var ch chunk
		if ch, done, err = c.next(ctx, conn); err != nil {
			t.Fatal(err)
		}
		got = append(got, ch.String())
	}
	want := "[(-inf, 500] (500, 1000] (1000, 1500] (1500, 2000] (2000, 2500] (2500, 3000] (3000, 100400]]"
	if s := fmtList(got); s != want {
		t.Errorf("chunks %s, want %s", s, want)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
