package initsync

import (
	"context"
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
