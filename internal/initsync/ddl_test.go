package initsync

import (
	"context"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDDLDuringSync: with --ddl auto, a column added on the source while the
// fast path copies (after the slot's snapshot), or once a native sync
// streams, reaches the target in stream order, and so do the rows written
// with it.
func TestDDLDuringSync(t *testing.T) {
	for _, mode := range []string{Fast, Native} {
		t.Run(mode, func(t *testing.T) {
			src, _, sconn, tconn, opts := setup(t, 2000)
			opts.CopyMode, opts.DDL = mode, ddl.Auto
			change := func() {
				src.Exec(t, `ALTER TABLE test ADD COLUMN label text`)
				src.Exec(t, `INSERT INTO test VALUES (100001, '[1,2,3,4,5,6,7,8,9,10]', 'after the change')`)
			}
			opts.Hook = func(point string) error {
				if point == "copying" {
					change()
				}
				return nil
			}
			if err := Start(context.Background(), sconn, tconn, opts); err != nil {
				t.Fatal(err)
			}
			if mode == Native {
				change()
			}
			src.Exec(t, `UPDATE test SET label = 'later' WHERE id <= 10`)
			sum := `SELECT count(*)::text || ':' || md5(string_agg(x::text, ',' ORDER BY x.id)) FROM test x`
			want := src.QueryStrings(t, sum)[0]
			pgtest.WaitFor(t, "the target to match", func() bool {
				var got string
				if err := tconn.QueryRow(context.Background(), sum).Scan(&got); err != nil {
					return false // the column may not be there yet
				}
				return got == want
			})
		})
	}
}

// TestDDLRefusedBeforeSlot: between the publication and the slot's
// consistent point a schema change would reach neither the copy's schema
// nor the stream, so it is refused with a hint, and the sync goes on.
func TestDDLRefusedBeforeSlot(t *testing.T) {
	src, _, sconn, tconn, opts := setup(t, 100)
	opts.CopyMode, opts.DDL = Fast, ddl.Auto
	var refused error
	opts.Hook = func(point string) error {
		if point == "after-publication" {
			conn := src.Conn(t)
			_, refused = conn.Exec(context.Background(), `ALTER TABLE test ADD COLUMN label text`)
		}
		return nil
	}
	if err := Start(context.Background(), sconn, tconn, opts); err != nil {
		t.Fatal(err)
	}
	if refused == nil || !strings.Contains(refused.Error(), "is not ready") {
		t.Fatalf("a schema change before the slot was not refused: %v", refused)
	}
	src.Exec(t, `ALTER TABLE test ADD COLUMN label text`) // once streaming, it goes through
}
