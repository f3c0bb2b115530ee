// Package schema copies the source's schema to the target (bootstrap
// --copy-schema) on pg_dump's own terms.
//
// pg_dump writes one schema-only archive of the source. Its table of
// contents (pg_restore -l) lists every object with the objects it depends
// on, so choosing what to copy is a walk over that graph: the whole
// database by default, or the chosen tables and everything they need.
// Objects the target already has are left out, which makes reruns
// harmless; pg_restore -L then writes the SQL of the rest, and it is
// applied in one transaction, so a failure leaves the target as it was.
//
// Indexes, keys, triggers and foreign keys come along (the tables are
// empty, so they cost nothing now); start_sync saves, drops and rebuilds
// them around its copy, as it does for targets made by hand.
package schema

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Options say what to copy and how to reach the source with pg_dump.
type Options struct {
	// SourceURL is the source as the user gave it (URL or keyword=value);
	// pg_dump gets its settings through libpq environment variables.
	SourceURL string
	PgDump    string // path of pg_dump
	PgRestore string // path of pg_restore, of pg_dump's version (preflight.PgRestore)
	// Tables narrows the copy to these tables and what they depend on;
	// nil copies every non-system schema of the source database.
	Tables []catalog.Table
	// Events receives one event per object created or kept (package
	// event); nil drops them.
	Events event.Sink
}

// Copy creates on the target what it lacks of the source's schema.
func Copy(ctx context.Context, src, tgt *pgx.Conn, opts Options) error {
	dir, err := os.MkdirTemp("", "pgvecrep-schema-")
	if err != nil {
		return fmt.Errorf("make a temporary directory for the schema archive: %w", err)
	}
	defer os.RemoveAll(dir)
	env, err := childEnv(opts.SourceURL)
	if err != nil {
		return hint.Wrap(err, "check SOURCE_DB_URL (or --source-url)")
	}
	archive := filepath.Join(dir, "schema.dump")
	if _, err := run(ctx, env, opts.PgDump, "--format=custom", "--schema-only", "--exclude-schema=pgvecrep",
		"--no-publications", "--no-subscriptions", "--no-security-labels", "--file="+archive); err != nil {
		return err
	}
	restore := opts.PgRestore
	listing, err := run(ctx, env, restore, "--list", "--verbose", archive)
	if err != nil {
		return err
	}
	entries, err := ParseTOC(listing)
	if err != nil {
		return err
	}
	if entries, err = withoutOwnEventTriggers(ctx, src, entries); err != nil {
		return err
	}
	objs, err := describe(ctx, src, entries)
	if err != nil {
		return err
	}
	owners := ownerEntries(entries, objs)
	chosen := choose(entries, owners, tableEntries(entries, opts.Tables))
	exists, err := lookupTarget(ctx, tgt, chosen, owners, objs)
	if err != nil {
		return err
	}
	have := preexisting(chosen, owners, exists)
	todo := report(opts.Events, chosen, have, owners, objs)
	if todo == nil {
		say(opts.Events, "", "the target already has the source's schema: nothing to create")
		return nil
	}
	list := filepath.Join(dir, "restore.list")
	if err := os.WriteFile(list, []byte(listFile(todo)), 0o600); err != nil {
		return fmt.Errorf("write the restore list: %w", err)
	}
	script, err := run(ctx, env, restore, "--no-owner", "--no-privileges", "--no-tablespaces",
		"--use-list="+list, "--file=-", archive)
	if err != nil {
		return err
	}
	return applyChunks(ctx, tgt, SplitScript(script))
}

// run runs a PostgreSQL client program and returns its output. Its
// arguments never carry the password; its error output is redacted anyway.
func run(ctx context.Context, env []string, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		for _, v := range env {
			if p, ok := strings.CutPrefix(v, "PGPASSWORD="); ok {
				msg = pg.Redact(msg, p)
			}
		}
		return "", hint.Wrap(fmt.Errorf("run %s: %w: %s", filepath.Base(prog), err, msg),
			"check that the source is reachable with the URL's settings and that pg_dump matches the source version")
	}
	return out.String(), nil
}

// tableEntries finds the TABLE entries of the chosen tables; nil for all.
func tableEntries(entries []Entry, tables []catalog.Table) map[int]bool {
	if tables == nil {
		return nil
	}
	oids := map[uint32]bool{}
	for _, t := range tables {
		oids[t.OID] = true
	}
	out := map[int]bool{}
	for _, e := range entries {
		if e.ClassID == pgClass && oids[e.ObjID] {
			out[e.ID] = true
		}
	}
	return out
}

// listFile writes entries as a pg_restore -L list, in archive order.
func listFile(entries []Entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Line)
		b.WriteByte('\n')
	}
	return b.String()
}

// report logs what is kept and what will be created, and returns the
// entries to restore; nil when there is nothing to create.
func report(w event.Sink, chosen []Entry, have map[int]bool, owners map[int]int, objs map[int]object) []Entry {
	var todo []Entry
	created := 0
	for _, e := range chosen {
		o, named := objs[e.ID]
		named = named && owners[e.ID] == 0
		switch {
		case have[e.ID]:
			if named && (e.Desc == "TABLE" || e.Desc == "VIEW") {
				say(w, o.Identity, "%s %s already exists on the target, kept", strings.ToLower(e.Desc), o.Identity)
			}
		case settingDescs[e.Desc]:
			todo = append(todo, e)
		default:
			todo = append(todo, e)
			created++
			if named {
				say(w, o.Identity, "creating %s %s", o.Type, o.Identity)
			}
		}
	}
	if created == 0 {
		return nil
	}
	return todo
}

// say emits one setup event about object (a table's, a view's name; "" for
// none).
func say(w event.Sink, object, format string, args ...any) {
	if w != nil {
		w.Emit(event.Event{Phase: event.Setup, Table: object, Message: fmt.Sprintf(format, args...)})
	}
}
