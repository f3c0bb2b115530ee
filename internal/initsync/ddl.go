package initsync

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
)

// installDDL sets up the group's DDL capture (package ddl) once the
// publication exists and before the slot does: every schema change from
// the slot's consistent point on is then in the stream, in order with the
// rows around it, and the copy (taken under the slot's snapshot, or by the
// subscription after it) sees the schema as it was before them.
func (s *syncer) installDDL(ctx context.Context) error {
	mode := s.opts.DDL
	if mode == "" {
		return nil // callers that predate DDL capture: nothing changes
	}
	if err := ddl.Install(ctx, s.src, s.tgt, s.opts.Group, mode, s.schemas()); err != nil {
		return err
	}
	switch mode {
	case ddl.Auto:
		s.say(event.Setup, "schema changes on the source are applied on the target in stream order (--ddl auto)")
	case ddl.Track:
		s.say(event.Setup, "schema changes on the source are recorded; apply them with pgvecrep apply_ddl_change (--track-ddl)")
	}
	return nil
}

// schemas are the schemas of the group's tables: DDL there is captured,
// and a table created there joins the group.
func (s *syncer) schemas() []string {
	var out []string
	for _, t := range s.opts.Tables {
		if !slices.Contains(out, t.Name.Schema) {
			out = append(out, t.Name.Schema)
		}
	}
	return out
}

// DDLMode is how the group's schema changes will reach the target: mode
// when the user chose it (explicit), else the mode bootstrap recorded for
// the group, else mode (auto) when the source user may create event
// triggers, and ddl.Off when it may not, with the reason in why (the run
// goes on without capture; the caller says so).
func DDLMode(ctx context.Context, src, tgt *pgx.Conn, group, mode string, explicit bool) (_ string, why, err error) {
	if !explicit {
		saved, err := ddl.SavedMode(ctx, tgt, group)
		if err != nil {
			return "", nil, err
		}
		if saved != "" {
			return saved, nil, nil
		}
	}
	if mode == ddl.Off || explicit {
		return mode, nil, nil
	}
	if why := ddl.CanCapture(ctx, src); why != nil {
		return ddl.Off, why, nil
	}
	return mode, nil, nil
}
