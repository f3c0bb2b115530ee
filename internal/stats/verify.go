package stats

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
)

// Mismatch is a difference follow's continuous verifier found between the
// source and the target that persisted after the lag had drained past it,
// and that no later pass has found healthy yet.
type Mismatch struct {
	Table string `json:"table"`
	// Range is the key range "(lo, hi]" of the rows that differ, the
	// nearest-neighbour sample, or "whole table" for a table without a key.
	Range     string    `json:"range"`
	Kind      string    `json:"kind"` // rows or neighbours
	Message   string    `json:"message"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// mismatches reads the group's open mismatches from the metadata.
func mismatches(ctx context.Context, tgt *pgx.Conn, name string) ([]Mismatch, error) {
	ms, err := group.Mismatches(ctx, tgt, name)
	if err != nil {
		return nil, err
	}
	out := make([]Mismatch, len(ms))
	for i, m := range ms {
		out[i] = Mismatch{Table: m.Table.String(), Range: m.Range, Kind: m.Kind, Message: m.Message, FirstSeen: m.FirstSeen, LastSeen: m.LastSeen}
	}
	return out, nil
}

// writeMismatches writes one line per open mismatch, and what to do.
func (r Report) writeMismatches(w io.Writer) {
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "verify mismatch: %s %s (%s, since %s, last seen %s)\n", m.Table, m.Range, m.Kind,
			m.FirstSeen.UTC().Format(time.RFC3339), m.LastSeen.UTC().Format(time.RFC3339))
	}
	if len(r.Mismatches) > 0 {
		fmt.Fprintf(w, "hint: the target differs from the source there although the lag has drained (a change made on the target behind replication's back?); "+
			"pgvecrep verify -g %s compares every row, and follow clears a mismatch once a later pass finds its range healthy\n", r.Group)
	}
}
