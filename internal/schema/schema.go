// Package schema copies table definitions from the source to the target
// (bootstrap --copy-schema): extensions first, then schemas and enum types,
// then the tables themselves with their sequences, keys and indexes.
//
// Table DDL comes from pg_dump, which knows every corner of CREATE TABLE; what
// pg_dump -t leaves out (extensions, schemas, types the columns use) is made
// here with IF NOT EXISTS, so running bootstrap twice is harmless. Tables that
// already exist on the target are left alone: preflight has checked that they
// match.
package schema

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Options say what to copy and how to reach the source with pg_dump.
type Options struct {
	Source *pgx.ConnConfig
	PgDump string // path of pg_dump
	Tables []catalog.Table
	Log    io.Writer // one line per thing created; may be nil
}

// Copy creates on the target what the tables need and the tables that are missing.
func Copy(ctx context.Context, src, tgt *pgx.Conn, opts Options) error {
	if err := copyExtensions(ctx, src, tgt, opts.Log); err != nil {
		return err
	}
	if err := copySchemasAndEnums(ctx, src, tgt, opts); err != nil {
		return err
	}
	existing, err := catalog.Lookup(ctx, tgt, catalog.NamesOf(opts.Tables))
	if err != nil {
		return err
	}
	var missing []pg.Name
	for _, t := range opts.Tables {
		if _, ok := existing[t.Name]; ok {
			logf(opts.Log, "table %s already exists on the target, kept", t.Name)
			continue
		}
		missing = append(missing, t.Name)
	}
	if len(missing) == 0 {
		return nil
	}
	ddl, err := dumpTables(ctx, opts, missing)
	if err != nil {
		return err
	}
	if err := apply(ctx, tgt, ddl); err != nil {
		return fmt.Errorf("create tables on the target: %w", err)
	}
	for _, n := range missing {
		logf(opts.Log, "created table %s", n)
	}
	return nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// copyExtensions creates every extension the source has (pgvecrep's
// preflight has checked the target can). Vector extensions matter most: the
// tables' column types come from them.
func copyExtensions(ctx context.Context, src, tgt *pgx.Conn, log io.Writer) error {
	exts, err := catalog.Extensions(ctx, src)
	if err != nil {
		return err
	}
	have, err := catalog.Extensions(ctx, tgt)
	if err != nil {
		return err
	}
	installed := map[string]bool{}
	for _, e := range have {
		installed[e.Name] = true
	}
	for _, e := range exts {
		if installed[e.Name] {
			continue
		}
		if _, err := tgt.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+pgx.Identifier{e.Name}.Sanitize()+" CASCADE"); err != nil {
			return fmt.Errorf("create extension %s on the target: %w", e.Name, err)
		}
		logf(log, "created extension %s", e.Name)
	}
	return nil
}

const enumsQuery = `
SELECT DISTINCT n.nspname, t.typname,
       (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid OR t.typarray = a.atttypid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped AND t.typtype = 'e'`

// copySchemasAndEnums makes the schemas of the tables and the enum types
// their columns use, which pg_dump -t does not dump.
func copySchemasAndEnums(ctx context.Context, src, tgt *pgx.Conn, opts Options) error {
	seen := map[string]bool{}
	for _, t := range opts.Tables {
		if seen[t.Name.Schema] {
			continue
		}
		seen[t.Name.Schema] = true
		if _, err := tgt.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{t.Name.Schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema %s on the target: %w", t.Name.Schema, err)
		}
	}
	rows, err := src.Query(ctx, enumsQuery, catalog.OIDs(opts.Tables))
	if err != nil {
		return fmt.Errorf("list enum types: %w", err)
	}
	type enum struct {
		schema, name string
		labels       []string
	}
	enums, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (enum, error) {
		var e enum
		return e, r.Scan(&e.schema, &e.name, &e.labels)
	})
	if err != nil {
		return err
	}
	for _, e := range enums {
		if err := createEnum(ctx, tgt, e.schema, e.name, e.labels); err != nil {
			return err
		}
	}
	return nil
}

func createEnum(ctx context.Context, tgt *pgx.Conn, schema, name string, labels []string) error {
	var exists bool
	if err := tgt.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = $1 AND t.typname = $2)`, schema, name).Scan(&exists); err != nil || exists {
		return err
	}
	quoted := make([]string, len(labels))
	for i, l := range labels {
		quoted[i] = pg.Literal(l)
	}
	sql := fmt.Sprintf("CREATE TYPE %s AS ENUM (%s)", pgx.Identifier{schema, name}.Sanitize(), strings.Join(quoted, ", "))
	if _, err := tgt.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create type %s.%s on the target: %w", schema, name, err)
	}
	return nil
}

// dumpTables runs pg_dump --schema-only for the named tables. The password
// reaches pg_dump through its environment, never its arguments.
func dumpTables(ctx context.Context, opts Options, names []pg.Name) (string, error) {
	args := []string{"--schema-only", "--no-owner", "--no-privileges", "--no-publications",
		"--no-subscriptions", "--no-security-labels", "--strict-names"}
	for _, n := range names {
		args = append(args, "--table="+n.Quoted())
	}
	cmd := exec.CommandContext(ctx, opts.PgDump, args...)
	cmd.Env = append(os.Environ(), LibpqEnv(opts.Source)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pg_dump: %w: %s", err, strings.TrimSpace(pg.Redact(errb.String(), opts.Source.Password)))
	}
	return stripMeta(out.String()), nil
}

// LibpqEnv expresses a connection config as libpq environment variables, the
// way child processes get credentials without showing them in `ps`.
func LibpqEnv(cfg *pgx.ConnConfig) []string {
	env := []string{
		"PGHOST=" + cfg.Host,
		fmt.Sprintf("PGPORT=%d", cfg.Port),
		"PGDATABASE=" + cfg.Database,
		"PGUSER=" + cfg.User,
	}
	if cfg.Password != "" {
		env = append(env, "PGPASSWORD="+cfg.Password)
	}
	return append(env, "PGSSLMODE="+sslMode(cfg))
}

// sslMode recovers libpq's sslmode from what pgconn made of it.
func sslMode(cfg *pgx.ConnConfig) string {
	if cfg.TLSConfig == nil {
		return "disable"
	}
	for _, fb := range cfg.Fallbacks {
		if fb.TLSConfig == nil {
			return "prefer"
		}
	}
	if cfg.TLSConfig.InsecureSkipVerify {
		return "require"
	}
	return "verify-full"
}

// stripMeta removes psql meta-commands (\restrict and friends) that recent
// pg_dump versions emit: the server does not understand them.
func stripMeta(script string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(script, "\n") {
		if strings.HasPrefix(line, "\\") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// apply runs a pg_dump script in one transaction, so a failure leaves no
// half-created tables. pg_dump empties search_path for the session; it is
// reset afterwards because the connection lives on.
func apply(ctx context.Context, conn *pgx.Conn, script string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, script); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "RESET search_path")
	return err
}
