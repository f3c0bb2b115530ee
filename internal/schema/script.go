package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// Chunk is the SQL pg_restore wrote for one archive entry, with the object
// it makes, as named by pg_restore's "-- Name: ...; Type: ..." header.
type Chunk struct {
	Object string // e.g. "TABLE app.orders"; "settings" for the script's preamble
	SQL    string
}

// SplitScript cuts a pg_restore script at its per-entry headers, so that a
// failing statement can be reported with the object it belongs to. psql
// meta-commands (\restrict and friends) are dropped: the server does not
// understand them.
func SplitScript(script string) []Chunk {
	lines := strings.SplitAfter(script, "\n")
	chunks := []Chunk{{Object: "settings"}}
	var b strings.Builder
	flush := func() {
		chunks[len(chunks)-1].SQL = strings.TrimSpace(b.String())
		b.Reset()
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, `\`) {
			continue
		}
		if obj, ok := header(line); ok && i > 0 && strings.TrimSpace(lines[i-1]) == "--" {
			flush()
			chunks = append(chunks, Chunk{Object: obj})
			if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "--" {
				i++
			}
			continue
		}
		b.WriteString(line)
	}
	flush()
	out := chunks[:0]
	for _, c := range chunks {
		if stripComments(c.SQL) != "" {
			out = append(out, c)
		}
	}
	return out
}

// header reads "-- Name: orders; Type: TABLE; Schema: app; Owner: -".
func header(line string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "-- ")
	if !ok {
		return "", false
	}
	if r, isData := strings.CutPrefix(rest, "Data for "); isData {
		rest = r
	}
	if !strings.HasPrefix(rest, "Name: ") {
		return "", false
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, "; ") {
		k, v, _ := strings.Cut(f, ": ")
		fields[k] = v
	}
	typ, name, schema := fields["Type"], fields["Name"], fields["Schema"]
	if typ == "" {
		return "", false
	}
	if schema != "" && schema != "-" {
		return typ + " " + schema + "." + name, true
	}
	return typ + " " + name, true
}

// stripComments drops "--" comment lines and blank lines.
func stripComments(sql string) string {
	var b strings.Builder
	for _, l := range strings.Split(sql, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return strings.TrimSpace(b.String())
}

// applyChunks runs the chunks in one transaction: either the target gets
// everything or, on the first failing statement, nothing at all. Chunks go
// to the server in groups, one round trip each, under a savepoint; when a
// group fails it is rolled back to the savepoint and replayed chunk by
// chunk, only to name the failing object. The script's session settings (an
// empty search_path, no function body checks) are reset afterwards because
// the connection lives on.
func applyChunks(ctx context.Context, conn *pgx.Conn, chunks []Chunk) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin the schema transaction on the target: %w", err)
	}
	defer tx.Rollback(ctx)
	for _, g := range groups(chunks, 256<<10) {
		if err := applyGroup(ctx, tx, g); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit the schema on the target: %w", err)
	}
	if _, err := conn.Exec(ctx, "RESET ALL"); err != nil {
		return fmt.Errorf("reset session settings after the schema copy: %w", err)
	}
	return nil
}

// groups cuts chunks into runs of about size bytes of SQL.
func groups(chunks []Chunk, size int) [][]Chunk {
	var out [][]Chunk
	start, n := 0, 0
	for i, c := range chunks {
		if n > 0 && n+len(c.SQL) > size {
			out = append(out, chunks[start:i])
			start, n = i, 0
		}
		n += len(c.SQL) + 1
	}
	if start < len(chunks) {
		out = append(out, chunks[start:])
	}
	return out
}

func applyGroup(ctx context.Context, tx pgx.Tx, g []Chunk) error {
	if _, err := tx.Exec(ctx, "SAVEPOINT pgvecrep_schema"); err != nil {
		return fmt.Errorf("savepoint in the schema transaction: %w", err)
	}
	sqls := make([]string, len(g))
	for i, c := range g {
		sqls[i] = c.SQL
	}
	_, err := tx.Exec(ctx, strings.Join(sqls, "\n"))
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if len(g) == 1 || !errors.As(err, &pgErr) {
		return chunkError(g[0], err)
	}
	if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT pgvecrep_schema"); err != nil {
		return fmt.Errorf("roll back to the savepoint in the schema transaction: %w", err)
	}
	for _, c := range g {
		if _, err := tx.Exec(ctx, c.SQL); err != nil {
			return chunkError(c, err)
		}
	}
	return fmt.Errorf("apply the schema on the target: %w (the statements succeeded one by one)", err)
}

// chunkError names the object and the first line of its SQL, and says the
// target was left untouched.
func chunkError(c Chunk, err error) error {
	first, _, _ := strings.Cut(stripComments(c.SQL), "\n")
	msg := err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg = pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
		if pgErr.Detail != "" {
			msg += ": " + pgErr.Detail
		}
	}
	return hint.Wrap(fmt.Errorf("create %s on the target: %s; statement: %s", c.Object, msg, first),
		"nothing was changed on the target (the schema is applied in one transaction); "+
			"drop or rename the conflicting object on the target, or create this object by hand, then rerun bootstrap")
}
