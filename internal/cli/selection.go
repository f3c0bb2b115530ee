package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/preflight"
)

// schemaList reads -s as a list: "app,audit" names two schemas. A name
// with a comma or a double quote in it is written as SQL quotes it
// ("a,b"); any other name is taken as typed, case and spaces included, as
// -s always took one schema.
func schemaList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, part := range catalog.SplitOutsideQuotes(s) {
		name := strings.TrimSpace(part)
		if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
			name = strings.ReplaceAll(name[1:len(name)-1], `""`, `"`)
		}
		if name == "" {
			return nil, hint.New(fmt.Sprintf("--schema-name %q has an empty schema name", s),
				"separate schemas with commas: -s app,audit")
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// multiSchema reports whether -s names more than one schema, the case
// where filter needs the source.
func (t *tableFlags) multiSchema() bool {
	s, err := schemaList(t.schema)
	return err == nil && len(s) > 1
}

// filter turns the flags into the catalog's filter. One schema is the
// filter's own. A catalog.Filter holds one schema, so several
// (-s app,audit) become the list of their tables, read from the source
// through src; an unqualified -e name leaves that table out of each of them.
func (t *tableFlags) filter(ctx context.Context, src *pgx.Conn) (catalog.Filter, error) {
	schemas, err := schemaList(t.schema)
	if err != nil {
		return catalog.Filter{}, usageExit(err)
	}
	var f catalog.Filter
	if len(schemas) > 0 {
		f.Schema = schemas[0]
	}
	if t.tables != "" {
		f.Include = []string{t.tables}
	}
	if len(schemas) <= 1 {
		if t.exclude != "" {
			f.Exclude = []string{t.exclude}
		}
		return f, nil
	}
	if t.tables != "" {
		return f, usageExit(hint.New("-t with several schemas in -s: an unqualified table name could be in any of them",
			"name the tables as schema.table and leave -s out: -t app.orders,audit.events"))
	}
	all, err := catalog.UserTableNames(ctx, src)
	if err != nil {
		return f, err
	}
	skip, err := excluded(t.exclude, schemas)
	if err != nil {
		return f, err
	}
	for _, n := range all {
		switch {
		case skip(n):
			f.Exclude = append(f.Exclude, n.Quoted())
		case slices.Contains(schemas, n.Schema):
			f.Include = append(f.Include, n.Quoted())
		}
	}
	return f, nil
}

// excluded reads -e for several schemas: schema.table leaves that table
// out, a bare name the table of that name in each schema.
func excluded(list string, schemas []string) (func(pg.Name) bool, error) {
	var names []pg.Name
	if strings.TrimSpace(list) != "" {
		for _, part := range catalog.SplitOutsideQuotes(list) {
			n, err := pg.ParseName(part, "")
			if err != nil {
				return nil, usageExit(hint.Wrap(err, `name tables as table or schema.table, quoting odd names: -e 'app."My Table"'`))
			}
			names = append(names, n)
		}
	}
	return func(t pg.Name) bool {
		for _, n := range names {
			if n.Name == t.Name && (n.Schema == t.Schema || n.Schema == "" && slices.Contains(schemas, t.Schema)) {
				return true
			}
		}
		return false
	}, nil
}

// explainNoTables rewrites the finding that no table was selected: it names
// the schemas -s gave, and its hint lists the schemas of the source that
// have tables, as a ready -s, instead of suggesting flags at random. Only
// the source knows them; when it cannot be read the finding stays as the
// checks wrote it.
func explainNoTables(ctx context.Context, f *flags, r *preflight.Report, tf tableFlags) {
	i := noTablesFinding(*r)
	if i < 0 {
		return
	}
	src, _, err := f.dial(ctx, pg.Source)
	if err != nil {
		return
	}
	defer src.Close(context.Background())
	all, err := catalog.UserTableNames(ctx, src)
	if err != nil {
		return
	}
	schemas, _ := schemaList(tf.schema)
	if len(schemas) == 0 {
		schemas = []string{"public"}
	}
	r.Findings[i].Detail = fmt.Sprintf("no tables selected on the source (%s)", describeSelection(schemas, tf))
	r.Findings[i].Hint = tablesHint(all)
}

// describeSelection says in flag terms what was asked for.
func describeSelection(schemas []string, tf tableFlags) string {
	quoted := make([]string, len(schemas))
	for i, s := range schemas {
		quoted[i] = pg.QuoteIfNeeded(s)
	}
	what := "schema " + quoted[0]
	if len(schemas) > 1 {
		what = "schemas " + strings.Join(quoted, ", ")
	}
	if tf.exclude != "" {
		what += ", -e " + tf.exclude
	}
	return what
}

// tablesHint lists the schemas that have tables, with how many, and the -s
// that selects them all.
func tablesHint(all []pg.Name) string {
	if len(all) == 0 {
		return "the source database has no tables: create them there first, or check SOURCE_DB_URL's database"
	}
	var names, counted []string
	count := map[string]int{}
	for _, n := range all {
		if count[n.Schema] == 0 {
			names = append(names, n.Schema)
		}
		count[n.Schema]++
	}
	quoted := make([]string, len(names))
	for i, s := range names {
		quoted[i] = pg.QuoteIfNeeded(s)
		counted = append(counted, fmt.Sprintf("%s (%s)", quoted[i], plural(count[s], "table")))
	}
	return fmt.Sprintf("schemas with tables on the source: %s; select them with -s %s",
		strings.Join(counted, ", "), shellQuote(strings.Join(quoted, ",")))
}

// selectionFlags are the flags a group's selection is made of.
var selectionFlags = []string{"schema-name", "tables", "exclude-tables"}

// selection is what the flags select, to remember on the group.
func (t *tableFlags) selection(copyMode, role string) group.Selection {
	return group.Selection{Schemas: t.schema, Tables: t.tables, Exclude: t.exclude, CopyMode: copyMode, Role: role}
}

// reuse takes from a group's recorded selection what the user did not give
// again: the tables (when none of -s, -t, -e is given), the copy mode and
// the role. It returns what it reused, as flags, for the output to say.
func (f *flags) reuse(saved group.Selection, t *tableFlags, copyMode, role *string) []string {
	var used []string
	if !slices.ContainsFunc(selectionFlags, f.given) && (saved.Schemas != "" || saved.Tables != "" || saved.Exclude != "") {
		t.schema, t.tables, t.exclude = saved.Schemas, saved.Tables, saved.Exclude
		if t.schema == "" {
			t.schema = "public"
		}
		used = append(used, selectionArgs(f, *t)...)
	}
	if !f.given("copy-mode") && saved.CopyMode != "" {
		*copyMode = saved.CopyMode
		used = append(used, "--copy-mode", saved.CopyMode)
	}
	if !f.given("special-user-role") && saved.Role != "" {
		*role = saved.Role
		used = append(used, "--special-user-role", shellQuote(saved.Role))
	}
	return used
}

// selectionArgs spells a table selection as start_sync's flags.
func selectionArgs(f *flags, t tableFlags) []string {
	var out []string
	if t.schema != "" && t.schema != "public" {
		out = append(out, f.spell("schema-name"), shellQuote(t.schema))
	}
	if t.tables != "" {
		out = append(out, f.spell("tables"), shellQuote(t.tables))
	}
	if t.exclude != "" {
		out = append(out, f.spell("exclude-tables"), shellQuote(t.exclude))
	}
	return out
}

// rememberedArgs is a recorded selection as start_sync's flags, "" for none.
func rememberedArgs(f *flags, s group.Selection) string {
	args := selectionArgs(f, tableFlags{schema: s.Schemas, tables: s.Tables, exclude: s.Exclude})
	if s.CopyMode != "" {
		args = append(args, "--copy-mode", s.CopyMode)
	}
	if s.Role != "" {
		args = append(args, "--special-user-role", shellQuote(s.Role))
	}
	return strings.Join(args, " ")
}

// recallSelection fills in, from the group's recorded selection, what the
// user did not give again, and says so. It returns the recorded selection
// and the one this run is to record once its checks pass.
func recallSelection(ctx context.Context, env *Env, f *flags, tgt *pgx.Conn, name string, tf *tableFlags, copyMode, role *string) (saved, sel group.Selection, err error) {
	if saved, err = group.LoadSelection(ctx, tgt, name); err != nil {
		return saved, sel, err
	}
	if used := f.reuse(saved, tf, copyMode, role); len(used) > 0 {
		env.say(event.Event{Phase: event.Note, Message: fmt.Sprintf("group %s: using the selection it recorded: %s (flags given on the command line win)",
			name, strings.Join(used, " "))})
	}
	sel = tf.selection(*copyMode, *role)
	if !f.given("copy-mode") && saved.CopyMode == "" {
		sel.CopyMode = "" // the default, not a choice to repeat
	}
	return saved, sel, nil
}

// restartHint is start_sync's line after an interrupted run's rollback:
// the command as typed, and what the group remembers (sel), so that the
// next run selects the same tables.
func restartHint(f *flags, name string, sel group.Selection) string {
	h := "what this run created was removed and the target's indexes restored (see above); start again with: " + f.again()
	if r := rememberedArgs(f, sel); r != "" {
		h += fmt.Sprintf(" (the group remembers %s: pgvecrep start_sync -g %s alone reuses it)", r, shellQuote(name))
	}
	return h
}
