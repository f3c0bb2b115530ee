package demo

import (
	"context"
	"fmt"
)

// switchoverStep is the index of the tutorial's switchover: the round
// trip goes on from there instead of stopping the source.
var switchoverStep = func() int {
	for i, s := range tutorial {
		if s.title == "pgvecrep switchover --group-name "+Group {
			return i
		}
	}
	panic("demo: the tutorial has no switchover step")
}()

// roundTrip is the way back after the switchover, and forward again.
var roundTrip = []step{
	{"Writing 100 rows on the target, the new primary", func(ctx context.Context, r *run) error { return insertRows(ctx, r.tgt, 201, 300) }},
	{"", waitRowsOn("source", 300)},
	compare("The old primary follows the new one (reverse stream)", true),
	pgvecrep(ignore, "stats", "--group-name", Group),
	pgvecrep(fatal, "switchback", "--group-name", Group),
	compare("After switchback: the source is the primary again", true),
	{"Writing 100 rows on the source again", insert(301, 400)},
	{"", waitRows(400)},
	compare("The target follows the source again", true),
	{"The round trip is done", roundTripDone},
}

// roundTripDone names the versions the rows went through.
func roundTripDone(ctx context.Context, r *run) error {
	n, err := count(ctx, r.src)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.opts.Out, "PostgreSQL %d -> %d -> %d: all %d rows on the source, none lost ✓\n", r.src.Major, r.tgt.Major, r.src.Major, n)
	return nil
}
