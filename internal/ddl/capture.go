package ddl

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// logColumns are the log table's columns on the source; the target's copy
// has the same ones plus its own status columns (logical replication matches
// columns by name, and a target may have more).
//
//   - statement is what the target runs: the client's query, or for CREATE
//     INDEX the index's definition as the source prints it (named, schema
//     qualified, never CONCURRENTLY, which cannot run in the apply worker);
//   - search_path is the caller's effective path (current_schemas), so
//     unqualified names resolve on the target as they did on the source (the
//     apply worker itself runs with an empty search_path);
//   - kind is replay, or manual when the text cannot be replayed (note says
//     why);
//   - deferred marks a vector index, built later, concurrently;
//   - columns are the table's columns after the change, name and type, for
//     the target's safety check.
const logColumns = `
    id           bigint PRIMARY KEY,
    captured_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    tag          text NOT NULL,
    object_type  text NOT NULL DEFAULT '',
    object       text NOT NULL DEFAULT '',
    statement    text NOT NULL,
    search_path  text NOT NULL DEFAULT '',
    kind         text NOT NULL DEFAULT 'replay',
    note         text NOT NULL DEFAULT '',
    deferred     boolean NOT NULL DEFAULT false,
    columns      jsonb,
    role         text NOT NULL DEFAULT ''`

// pickFunc finds, in the client's query string, the statement an event
// trigger fires for, and returns it, or NULL when there is none (the DDL
// ran inside a function, procedure or DO block, whose text is not the
// query's).
//
// Why this is needed: current_query() is the whole string the client sent,
// which may hold several statements (migration tools and drivers send a
// file or a "BEGIN; ALTER ...; UPDATE ...; COMMIT" as one message). Replaying
// that string would run its data changes a second time on the target. The
// scanner splits the string at top-level semicolons, skipping quoted
// identifiers, string literals, dollar quotes and comments, and the k-th
// event of one message takes the k-th statement whose leading words match
// its command tag: the position reached is kept in a session setting keyed
// by the query's hash and statement_timestamp(), which is the same for every
// statement of one message and differs between messages. An unterminated
// quote ends the scan, which at worst costs a manual entry, never a wrong
// replay.
const pickFunc = `
CREATE FUNCTION %[1]s(q text, tag text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    key text := md5(q) || '@' || statement_timestamp()::text;
    seen text := coalesce(current_setting('pgvecrep.ddl_cursor', true), '');
    done int := 0;
    i int := 1;
    n int := length(q);
    start int := 1;
    c text;
    dq text;
    j int;
    stmt text;
    words text[];
BEGIN
    IF split_part(seen, '|', 1) = key THEN
        done := split_part(seen, '|', 2)::int;
    END IF;
    WHILE i <= n + 1 LOOP
        c := substr(q, i, 1);
        IF c = '''' OR c = '"' THEN
            j := strpos(substr(q, i + 1), c);
            EXIT WHEN j = 0;
            i := i + j + 1;
            CONTINUE;
        ELSIF c = '-' AND substr(q, i + 1, 1) = '-' THEN
            j := strpos(substr(q, i), E'\n');
            IF j = 0 THEN i := n + 1; ELSE i := i + j; END IF;
            CONTINUE;
        ELSIF c = '/' AND substr(q, i + 1, 1) = '*' THEN
            j := strpos(substr(q, i + 2), '*/');
            EXIT WHEN j = 0;
            i := i + j + 3;
            CONTINUE;
        ELSIF c = '$' AND substring(substr(q, i) from '^(\$([A-Za-z_][A-Za-z_0-9]*)?\$)') IS NOT NULL THEN
            dq := substring(substr(q, i) from '^(\$([A-Za-z_][A-Za-z_0-9]*)?\$)');
            j := strpos(substr(q, i + length(dq)), dq);
            EXIT WHEN j = 0;
            i := i + length(dq) + j - 1 + length(dq);
            CONTINUE;
        ELSIF c = ';' OR i > n THEN
            IF i > done THEN
                stmt := btrim(substr(q, start, i - start), E' \t\r\n');
                words := regexp_split_to_array(upper(regexp_replace(stmt, '^(\s|--[^\n]*\n)*', '')), '\s+');
                IF words[1] = split_part(tag, ' ', 1)
                   AND split_part(tag, ' ', array_length(string_to_array(tag, ' '), 1)) = ANY (words[2:4]) THEN
                    PERFORM set_config('pgvecrep.ddl_cursor', key || '|' || i, false);
                    RETURN stmt;
                END IF;
            END IF;
            start := i + 1;
        END IF;
        i := i + 1;
    END LOOP;
    RETURN NULL;
END
$f$`

// triggerHead opens both event trigger functions: their declarations
// (placeholders 1 function, 3 schemas), the caller's search_path read
// first, and what the statement to log is built in.
const triggerHead = `
CREATE FUNCTION %[1]s() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $f$
DECLARE
    caller_path text := pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(s)
        FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) s), ', ');
    saved text := pg_catalog.current_setting('search_path');
    schemas text[] := %[3]s;
    q text := pg_catalog.current_query();
    r record;
    obj_type text := '';
    obj text := '';
    stmt text;
    k text := 'replay';
    why text := '';`

// captureFunc is the ddl_command_end trigger. Objects named pgvecrep* are
// pgvecrep's own (switchover's write-freeze triggers on the group's tables,
// say) and are never carried over: the target has no freeze function, and a
// freeze replayed there would stop the apply worker in the middle of the
// switchover that made it. It runs as its owner (the
// superuser who installed it: SECURITY DEFINER), so writing the log and
// adding a new table to the publication need no privilege from the user
// who ran the DDL, and no user can write the log directly (the target runs
// what it holds). It reads the caller's search_path first, then pins its
// own to pg_catalog for the rest and puts the caller's back at the end.
//
// Placeholders: 1 function, 2 log table, 3 schemas (array literal),
// 4 publication name (literal), 5 publication (identifier), 6 pick function,
// 7 id sequence (literal), 8 publish function, 9 ready function.
const captureFunc = triggerHead + `
    relevant boolean := false;
    tbl oid;
    idx oid;
    new_tables oid[] := '{}';
    def boolean := false;
    cols jsonb;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = %[4]s) THEN
        PERFORM set_config('search_path', saved, true);
        RETURN;
    END IF;
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        CONTINUE WHEN r.in_extension OR r.schema_name IS NULL OR NOT (r.schema_name = ANY (schemas))
            OR r.object_identity LIKE 'pgvecrep%%' OR r.object_identity LIKE '"pgvecrep%%';
        relevant := true;
        IF obj = '' OR r.object_type IN ('table', 'index', 'type') AND obj_type NOT IN ('table', 'index', 'type') THEN
            obj_type := r.object_type;
            obj := r.object_identity;
        END IF;
        IF r.object_type = 'table' AND tbl IS NULL THEN tbl := r.objid; END IF;
        IF r.command_tag = 'CREATE INDEX' AND r.object_type = 'index' THEN idx := r.objid; END IF;
        IF r.command_tag = 'CREATE TABLE' AND r.object_type = 'table' THEN new_tables := new_tables || r.objid; END IF;
    END LOOP;
    IF relevant AND tg_tag NOT LIKE 'DROP %%' AND tg_tag NOT IN ('REFRESH MATERIALIZED VIEW') THEN
        PERFORM %[9]s();
        stmt := %[6]s(q, tg_tag);
        IF stmt IS NULL THEN
            stmt := q;
            k := 'manual';
            why := 'the statement ran inside a function, procedure or DO block';
        ELSIF tg_tag IN ('CREATE TABLE AS', 'SELECT INTO') THEN
            k := 'manual';
            why := 'CREATE TABLE AS would fill the table from the target''s own data';
        END IF;
        IF tg_tag = 'CREATE INDEX' AND idx IS NOT NULL THEN
            -- The definition is exact however the index was made (inside a
            -- function, CONCURRENTLY, unnamed): always replayable.
            stmt := pg_get_indexdef(idx);
            k := 'replay';
            why := '';
            SELECT am.amname NOT IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin') INTO def
            FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.oid = idx;
            IF tbl IS NULL THEN SELECT indrelid INTO tbl FROM pg_index WHERE indexrelid = idx; END IF;
        END IF;
        IF tbl IS NOT NULL THEN
            SELECT jsonb_agg(jsonb_build_object('name', attname, 'type', format_type(atttypid, atttypmod)) ORDER BY attnum)
            INTO cols FROM pg_attribute WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped;
        END IF;
        INSERT INTO %[2]s (id, tag, object_type, object, statement, search_path, kind, note, deferred, columns, role)
        VALUES (nextval(%[7]s), tg_tag, obj_type, obj, stmt, caller_path, k, why, coalesce(def, false), cols, session_user);
        FOR i IN 1 .. coalesce(array_length(new_tables, 1), 0) LOOP
            PERFORM %[8]s(new_tables[i]);
        END LOOP;
    END IF;
    PERFORM set_config('search_path', saved, true);
END
$f$`

// readyFunc refuses a schema change while the group's slot has no
// consistent point yet (start_sync creates the publication and the capture
// first, then the slot). A change committed before that point is in
// neither the stream nor, necessarily, the target's schema: the target
// would silently miss it. Failing the statement for that moment is the
// honest choice; it can simply run again. A slot dropped by hand while the
// publication stays keeps refusing, with the way out in the hint.
//
// Placeholders: 1 function, 2 slot name (literal).
const readyFunc = `
CREATE FUNCTION %[1]s() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %[2]s AND confirmed_flush_lsn IS NOT NULL) THEN
        RAISE EXCEPTION 'pgvecrep: replication slot %% is not ready (pgvecrep start_sync is creating it, or it was dropped): schema changes in the replicated schemas are refused until it is, or the target would miss them', %[2]s
            USING ERRCODE = '55000',
                  HINT = 'run the statement again in a moment; if no start_sync is running, run pgvecrep cleanup for the group, which removes this check';
    END IF;
END
$f$`

// publishFunc adds a new table to the group's publication, when it can be
// replicated: a permanent table that is not a partition (its parent is what
// is published) and that has a replica identity, without which the source
// would refuse every UPDATE and DELETE on it once published. A table left
// out gets a warning that names it.
//
// Placeholders: 1 function, 2 publication (identifier).
const publishFunc = `
CREATE FUNCTION %[1]s(rel oid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    c pg_class;
BEGIN
    SELECT * INTO c FROM pg_class WHERE oid = rel;
    IF c.relpersistence <> 'p' OR c.relispartition OR c.relkind NOT IN ('r', 'p') THEN
        RETURN;
    END IF;
    IF NOT (c.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_index WHERE indrelid = rel
            AND (indisprimary AND c.relreplident = 'd' OR indisreplident AND c.relreplident = 'i'))) THEN
        RAISE WARNING 'pgvecrep: table %% has no primary key or replica identity: it is not replicated', rel::regclass
            USING HINT = 'add a primary key, then run pgvecrep apply_ddl_change for the group';
        RETURN;
    END IF;
    EXECUTE format('ALTER PUBLICATION %[2]s ADD TABLE %%s', rel::regclass);
END
$f$`

// droppedFunc is the sql_drop trigger: DROP statements of objects in the
// group's schemas. ALTER TABLE ... DROP COLUMN also fires sql_drop; it is
// logged by the ddl_command_end trigger instead, so only DROP commands count
// here. DROP INDEX is replayed as DROP INDEX IF EXISTS (the target may not
// have built a deferred index yet) and never CONCURRENTLY.
//
// Placeholders: 1 function, 2 log table, 3 schemas, 4 publication literal,
// 6 pick function, 7 id sequence (literal), 9 ready function.
const droppedFunc = triggerHead + `
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tg_tag NOT LIKE 'DROP %%' OR NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = %[4]s) THEN
        PERFORM set_config('search_path', saved, true);
        RETURN;
    END IF;
    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE original AND NOT is_temporary LOOP
        CONTINUE WHEN r.schema_name IS NULL OR NOT (r.schema_name = ANY (schemas))
            OR r.object_identity LIKE 'pgvecrep%%' OR r.object_identity LIKE '"pgvecrep%%';
        IF obj = '' THEN
            obj_type := r.object_type;
            obj := r.object_identity;
        END IF;
    END LOOP;
    IF obj <> '' THEN
        PERFORM %[9]s();
        stmt := %[6]s(q, tg_tag);
        IF stmt IS NULL THEN
            stmt := q;
            k := 'manual';
            why := 'the statement ran inside a function, procedure or DO block';
        ELSIF tg_tag = 'DROP INDEX' THEN
            stmt := regexp_replace(stmt, '^(\s*DROP\s+INDEX)(\s+CONCURRENTLY)?(\s+IF\s+EXISTS)?', '\1 IF EXISTS', 'i');
        END IF;
        INSERT INTO %[2]s (id, tag, object_type, object, statement, search_path, kind, note, role)
        VALUES (nextval(%[7]s), tg_tag, obj_type, obj, stmt, caller_path, k, why, session_user);
    END IF;
    PERFORM set_config('search_path', saved, true);
END
$f$`

// installSource creates the source's half: log table (with its id
// sequence), functions, event triggers, and the log table in the
// publication.
func installSource(ctx context.Context, src *pgx.Conn, objectName string, schemas []string) error {
	n := namesOf(objectName)
	seq := q(n.log + "_id")
	pub := pgx.Identifier{objectName}.Sanitize()
	args := []any{"", q(n.log), schemaArray(schemas), pg.Literal(objectName), pub, q(n.pick), pg.Literal(seq), q(n.log + "_pub"), q(n.log + "_ready")}
	with := func(fn string) []any { a := append([]any{}, args...); a[0] = fn; return a }
	stmts := []string{
		"DROP SEQUENCE IF EXISTS " + seq,
		"DROP FUNCTION IF EXISTS " + q(n.log+"_pub") + "(oid)",
		"CREATE SEQUENCE " + seq,
		"CREATE TABLE " + q(n.log) + " (" + logColumns + ")",
		"COMMENT ON TABLE " + q(n.log) + " IS " + pg.Literal("DDL captured for publication "+objectName+" by pgvecrep; replicated to the target"),
		fmt.Sprintf(pickFunc, q(n.pick)),
		fmt.Sprintf(publishFunc, q(n.log+"_pub"), pub),
		"DROP FUNCTION IF EXISTS " + q(n.log+"_ready") + "()",
		fmt.Sprintf(readyFunc, q(n.log+"_ready"), pg.Literal(objectName)),
		fmt.Sprintf(captureFunc, with(q(n.capture))...),
		fmt.Sprintf(droppedFunc, with(q(n.dropped))...),
		"REVOKE ALL ON FUNCTION " + q(n.capture) + "(), " + q(n.dropped) + "(), " + q(n.log+"_pub") + "(oid), " + q(n.log+"_ready") + "() FROM PUBLIC",
		fmt.Sprintf("CREATE EVENT TRIGGER %s ON ddl_command_end EXECUTE FUNCTION %s()", pgx.Identifier{n.evEnd}.Sanitize(), q(n.capture)),
		fmt.Sprintf("CREATE EVENT TRIGGER %s ON sql_drop EXECUTE FUNCTION %s()", pgx.Identifier{n.evDrop}.Sanitize(), q(n.dropped)),
		replication.AddTableSQL(objectName, q(n.log)),
	}
	tx, err := src.Begin(ctx)
	if err != nil {
		return fmt.Errorf("install DDL capture on the source: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("install DDL capture on the source: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("install DDL capture on the source: %w", err)
	}
	return nil
}

// schemaArray is an SQL text[] literal of schema names.
func schemaArray(schemas []string) string {
	quoted := make([]string, len(schemas))
	for i, s := range schemas {
		quoted[i] = pg.Literal(s)
	}
	return "ARRAY[" + strings.Join(quoted, ", ") + "]::text[]"
}
