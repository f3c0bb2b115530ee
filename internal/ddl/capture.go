package ddl

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/vector"
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
//
// The cursor is the group's own (placeholder 2): every group's event
// trigger fires for the same statement, and with one cursor for all of
// them the first group to pick a statement moved it past that statement
// for every other group, which then found nothing and logged a plain
// CREATE TABLE as "ran inside a function". For the same reason the
// ddl_command_end trigger advances the cursor at every event, whether the
// group records it or not (advance), and the sql_drop trigger, which fires
// just before ddl_command_end for the same command, only looks: otherwise
// a statement the group ignores would shift every later one of the
// message onto the wrong text.
//
// Placeholders: 1 function, 2 cursor setting (literal).
const pickFunc = `
CREATE FUNCTION %[1]s(q text, tag text, advance boolean) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    key text := md5(q) || '@' || statement_timestamp()::text;
    seen text := coalesce(current_setting(%[2]s, true), '');
    tagw text[] := string_to_array(tag, ' ');
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
                -- A one-word tag (COMMENT, GRANT) matches on its word alone.
                IF words[1] = tagw[1] AND (array_length(tagw, 1) = 1 OR tagw[array_length(tagw, 1)] = ANY (words[2:4])) THEN
                    IF advance THEN
                        PERFORM set_config(%[2]s, key || '|' || i, false);
                    END IF;
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
// (placeholder 1 function), the caller's search_path read first, and what
// the statement to log is built in.
const triggerHead = `
CREATE FUNCTION %[1]s() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $f$
DECLARE
    caller_path text := pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(s)
        FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) s), ', ');
    saved text := pg_catalog.current_setting('search_path');
    q text := pg_catalog.current_query();
    r record;
    obj_type text := '';
    obj text := '';
    stmt text;
    k text := 'replay';
    why text := '';`

// captureFunc is the ddl_command_end trigger. It records a statement when
// one of the objects it made or changed is the group's (see oursFunc): a
// statement that touches nothing of the group is invisible to it, so
// another group's change can never stall this one. Objects named pgvecrep* are
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
// 7 id sequence (literal), 8 publish function, 9 ready function, 10 ours
// function, 11 gone function.
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
    -- Every event moves the group's cursor, recorded or not (see pickFunc).
    stmt := %[6]s(q, tg_tag, true);
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        CONTINUE WHEN r.in_extension OR r.object_identity LIKE 'pgvecrep%%' OR r.object_identity LIKE '"pgvecrep%%'
            OR NOT %[10]s(r.classid, r.objid, r.schema_name);
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
            SELECT am.amname NOT IN (%[12]s) INTO def
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

// oursFunc says whether an object a DDL command made or changed is the
// group's, by the relation it belongs to (an index, trigger, constraint,
// policy, rule, default, statistics object or owned sequence belongs to its
// table; a partition to its root).
//
//   - A group of chosen tables (-t) owns what belongs to a table of its
//     publication, in whatever schema, and nothing else: a new table never
//     joins it (unless it is a partition of one of its tables), a type or a
//     function is not its concern.
//   - A group of whole schemas owns every object in them, new tables
//     included, except what belongs to a table another pgvecrep group
//     publishes: each table has one group, and a statement replayed by two
//     groups on one target would fail the second time.
//
// Placeholders: 1 function, 2 publication name (literal), 3 schemas
// (array literal), 4 whole schemas (true or false).
const oursFunc = `
CREATE FUNCTION %[1]s(cls oid, obj oid, nsp text) RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $f$
WITH rel AS (
    SELECT CASE cls
        WHEN 'pg_class'::regclass THEN coalesce(
            (SELECT indrelid FROM pg_index WHERE indexrelid = obj),
            (SELECT d.refobjid FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
             WHERE d.classid = cls AND d.objid = obj AND d.refclassid = cls AND d.deptype IN ('a', 'i') LIMIT 1),
            obj)
        WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = obj)
        WHEN 'pg_constraint'::regclass THEN (SELECT nullif(conrelid, 0) FROM pg_constraint WHERE oid = obj)
        WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = obj)
        WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = obj)
        WHEN 'pg_statistic_ext'::regclass THEN (SELECT stxrelid FROM pg_statistic_ext WHERE oid = obj)
        WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = obj)
    END AS oid),
lineage AS (
    SELECT oid FROM rel WHERE oid IS NOT NULL
    UNION SELECT a.relid FROM rel, pg_partition_ancestors(rel.oid) a WHERE rel.oid IS NOT NULL),
owners AS (
    SELECT p.pubname FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
    WHERE pr.prrelid IN (SELECT oid FROM lineage) AND p.pubname LIKE 'pgvecrep\_%%')
SELECT CASE WHEN %[4]s
    THEN coalesce(nsp = ANY (%[3]s), false) AND NOT EXISTS (SELECT 1 FROM owners WHERE pubname <> %[2]s)
    ELSE EXISTS (SELECT 1 FROM owners WHERE pubname = %[2]s) END
$f$`

// beforeFunc is a ddl_command_start trigger on the DROP commands of
// relations: once sql_drop fires, a dropped table or index is gone from the
// catalog, with nothing left that says which table an index was on or
// which group a partition belonged to. So just before, it notes the
// relations each pgvecrep group publishes (tables, their partitions and
// their indexes), this group's and the others', in a session setting that
// goneFunc reads.
//
// Placeholders: 1 function, 2 publication name (literal), 3 setting
// (literal).
const beforeFunc = `
CREATE FUNCTION %[1]s() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    mine oid[];
    others oid[];
BEGIN
    WITH pub AS (
        SELECT p.pubname, pr.prrelid FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
        WHERE p.pubname LIKE 'pgvecrep\_%%'),
    rels AS (
        SELECT pubname, prrelid AS oid FROM pub
        UNION SELECT pub.pubname, t.relid FROM pub, pg_partition_tree(pub.prrelid) t),
    objs AS (
        SELECT pubname, oid FROM rels
        UNION ALL SELECT rels.pubname, i.indexrelid FROM rels JOIN pg_index i ON i.indrelid = rels.oid)
    SELECT coalesce(array_agg(oid) FILTER (WHERE pubname = %[2]s), '{}'),
           coalesce(array_agg(oid) FILTER (WHERE pubname <> %[2]s), '{}')
    INTO mine, others FROM objs;
    PERFORM set_config(%[3]s, mine::text || '|' || others::text, false);
END
$f$`

// goneFunc is oursFunc for a dropped object, which the catalog no longer
// holds: a relation is the group's when beforeFunc saw it among the
// group's (or, for whole schemas, in them and not among another group's);
// a trigger, policy or rule when its table, which is still there, is.
//
// Placeholders: 1 function, 3 schemas (array literal), 4 whole schemas,
// 5 setting (literal), 6 ours function.
const goneFunc = `
CREATE FUNCTION %[1]s(cls oid, obj oid, kind text, nsp text, names text[]) RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $f$
WITH seen AS (
    SELECT coalesce(nullif(split_part(current_setting(%[5]s, true), '|', 1), ''), '{}')::oid[] AS mine,
           coalesce(nullif(split_part(current_setting(%[5]s, true), '|', 2), ''), '{}')::oid[] AS others)
SELECT CASE
    WHEN kind IN ('trigger', 'policy', 'rule') THEN
        coalesce(%[6]s('pg_class'::regclass, to_regclass(quote_ident(names[1]) || '.' || quote_ident(names[2])), nsp), false)
    WHEN cls = 'pg_class'::regclass AND %[4]s THEN coalesce(nsp = ANY (%[3]s), false) AND NOT obj = ANY (seen.others)
    WHEN cls = 'pg_class'::regclass THEN obj = ANY (seen.mine)
    ELSE %[4]s AND coalesce(nsp = ANY (%[3]s), false) END
FROM seen
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

// droppedFunc is the sql_drop trigger: DROP statements of the group's
// objects (see goneFunc). ALTER TABLE ... DROP COLUMN also fires sql_drop;
// it is logged by the ddl_command_end trigger instead, so only DROP
// commands count here. DROP INDEX is replayed as DROP INDEX IF EXISTS (the
// target may not have built a deferred index yet) and never CONCURRENTLY.
// It only looks at the statement (pick without advancing): the
// ddl_command_end trigger that follows for the same command moves the
// cursor.
//
// Placeholders: 1 function, 2 log table, 3 schemas, 4 publication literal,
// 6 pick function, 7 id sequence (literal), 9 ready function, 11 gone
// function.
const droppedFunc = triggerHead + `
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tg_tag NOT LIKE 'DROP %%' OR NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = %[4]s) THEN
        PERFORM set_config('search_path', saved, true);
        RETURN;
    END IF;
    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE original AND NOT is_temporary LOOP
        CONTINUE WHEN r.object_identity LIKE 'pgvecrep%%' OR r.object_identity LIKE '"pgvecrep%%'
            OR NOT %[11]s(r.classid, r.objid, r.object_type, r.schema_name, r.address_names);
        IF obj = '' THEN
            obj_type := r.object_type;
            obj := r.object_identity;
        END IF;
    END LOOP;
    IF obj <> '' THEN
        PERFORM %[9]s();
        stmt := %[6]s(q, tg_tag, false);
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
func installSource(ctx context.Context, src *pgx.Conn, objectName string, schemas []string, scope Scope) error {
	n := namesOf(objectName)
	seq := q(n.log + "_id")
	pub := pgx.Identifier{objectName}.Sanitize()
	whole := fmt.Sprint(scope != TablesOnly)
	args := []any{"", q(n.log), schemaArray(schemas), pg.Literal(objectName), pub, q(n.pick), pg.Literal(seq),
		q(n.log + "_pub"), q(n.log + "_ready"), q(n.ours), q(n.gone), vector.BuiltinAMsSQL()}
	with := func(fn string) []any { a := append([]any{}, args...); a[0] = fn; return a }
	stmts := []string{
		"DROP SEQUENCE IF EXISTS " + seq,
		"DROP FUNCTION IF EXISTS " + q(n.log+"_pub") + "(oid)",
		"CREATE SEQUENCE " + seq,
		"CREATE TABLE " + q(n.log) + " (" + logColumns + ")",
		"COMMENT ON TABLE " + q(n.log) + " IS " + pg.Literal("DDL captured for publication "+objectName+" by pgvecrep; replicated to the target"),
		fmt.Sprintf(pickFunc, q(n.pick), pg.Literal(n.cursor)),
		fmt.Sprintf(oursFunc, q(n.ours), pg.Literal(objectName), schemaArray(schemas), whole),
		fmt.Sprintf(beforeFunc, q(n.before), pg.Literal(objectName), pg.Literal(n.seen)),
		fmt.Sprintf(goneFunc, q(n.gone), "", schemaArray(schemas), whole, pg.Literal(n.seen), q(n.ours)),
		fmt.Sprintf(publishFunc, q(n.log+"_pub"), pub),
		"DROP FUNCTION IF EXISTS " + q(n.log+"_ready") + "()",
		fmt.Sprintf(readyFunc, q(n.log+"_ready"), pg.Literal(objectName)),
		fmt.Sprintf(captureFunc, with(q(n.capture))...),
		fmt.Sprintf(droppedFunc, with(q(n.dropped))...),
		"REVOKE ALL ON FUNCTION " + q(n.capture) + "(), " + q(n.dropped) + "(), " + q(n.before) + "(), " + q(n.log+"_pub") + "(oid), " + q(n.log+"_ready") + "() FROM PUBLIC",
		fmt.Sprintf("CREATE EVENT TRIGGER %s ON ddl_command_end EXECUTE FUNCTION %s()", pgx.Identifier{n.evEnd}.Sanitize(), q(n.capture)),
		fmt.Sprintf("CREATE EVENT TRIGGER %s ON sql_drop EXECUTE FUNCTION %s()", pgx.Identifier{n.evDrop}.Sanitize(), q(n.dropped)),
		fmt.Sprintf("CREATE EVENT TRIGGER %s ON ddl_command_start WHEN TAG IN (%s) EXECUTE FUNCTION %s()",
			pgx.Identifier{n.evStart}.Sanitize(), relationDrops, q(n.before)),
		replication.AddTableSQL(objectName, q(n.log)),
	}
	if err := execAll(ctx, src, stmts); err != nil {
		return fmt.Errorf("install DDL capture on the source: %w", err)
	}
	return nil
}

// relationDrops are the commands that drop relations, on which beforeFunc
// runs.
const relationDrops = `'DROP TABLE', 'DROP INDEX', 'DROP VIEW', 'DROP MATERIALIZED VIEW', 'DROP SEQUENCE', 'DROP FOREIGN TABLE'`

// schemaArray is an SQL text[] literal of schema names.
func schemaArray(schemas []string) string {
	quoted := make([]string, len(schemas))
	for i, s := range schemas {
		quoted[i] = pg.Literal(s)
	}
	return "ARRAY[" + strings.Join(quoted, ", ") + "]::text[]"
}
