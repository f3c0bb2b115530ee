package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Catalog table oids are fixed in every PostgreSQL version.
const (
	pgClass uint32 = 1259
	pgType  uint32 = 1247
)

// object is an archive entry's object as the source catalog names it.
type object struct {
	Type     string   // pg_identify_object_as_address's type: "table", "index", "function", ...
	Names    []string // its object_names
	Args     []string // its object_args
	Identity string   // a qualified, quoted name for people
	// OwnerClass and OwnerOID name the relation (or domain) the object
	// belongs to: a table's index, constraint, default, trigger, policy,
	// rule or statistics; a column's serial or identity sequence; a
	// partition's parent. Zero for standalone objects.
	OwnerClass, OwnerOID uint32
}

// describeQuery names each object and finds its owner on the source.
const describeQuery = `
SELECT u.id, a.type, a.object_names, a.object_args, i.identity,
  CASE WHEN u.classid = 'pg_constraint'::regclass
       THEN (SELECT CASE WHEN c.conrelid <> 0 THEN 'pg_class'::regclass ELSE 'pg_type'::regclass END
             FROM pg_constraint c WHERE c.oid = u.objid)
       ELSE 'pg_class'::regclass END::oid,
  COALESCE(CASE u.classid
    WHEN 'pg_constraint'::regclass THEN (SELECT CASE WHEN c.conrelid <> 0 THEN c.conrelid ELSE c.contypid END
                                         FROM pg_constraint c WHERE c.oid = u.objid)
    WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = u.objid)
    WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = u.objid)
    WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = u.objid)
    WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = u.objid)
    WHEN 'pg_statistic_ext'::regclass THEN (SELECT stxrelid FROM pg_statistic_ext WHERE oid = u.objid)
    WHEN 'pg_class'::regclass THEN COALESCE(
      (SELECT indrelid FROM pg_index WHERE indexrelid = u.objid),
      (SELECT d.refobjid FROM pg_depend d
       WHERE d.classid = 'pg_class'::regclass AND d.objid = u.objid AND d.objsubid = 0
         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1))
  END, 0)::oid
FROM unnest($1::int[], $2::oid[], $3::oid[]) AS u(id, classid, objid),
  LATERAL pg_identify_object_as_address(u.classid, u.objid, 0) a,
  LATERAL pg_identify_object(u.classid, u.objid, 0) i`

// describe names every archive entry that has a catalog object.
func describe(ctx context.Context, src *pgx.Conn, entries []Entry) (map[int]object, error) {
	var ids []int32
	var classes, objs []uint32
	for _, e := range entries {
		if e.ObjID != 0 && !skippedDescs[e.Desc] && !settingDescs[e.Desc] {
			ids, classes, objs = append(ids, int32(e.ID)), append(classes, e.ClassID), append(objs, e.ObjID)
		}
	}
	rows, err := src.Query(ctx, describeQuery, ids, classes, objs)
	if err != nil {
		return nil, fmt.Errorf("name the archive's objects on the source: %w", err)
	}
	out := map[int]object{}
	var id int32
	var o object
	_, err = pgx.ForEachRow(rows, []any{&id, &o.Type, &o.Names, &o.Args, &o.Identity, &o.OwnerClass, &o.OwnerOID}, func() error {
		out[int(id)] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("name the archive's objects on the source: %w", err)
	}
	return out, nil
}

// ownerEntries maps each owned entry to its owner's entry, when the owner
// is in the archive.
func ownerEntries(entries []Entry, objs map[int]object) map[int]int {
	type key struct{ class, oid uint32 }
	byObj := map[key]int{}
	for _, e := range entries {
		if e.ObjID != 0 && !skippedDescs[e.Desc] {
			byObj[key{e.ClassID, e.ObjID}] = e.ID
		}
	}
	out := map[int]int{}
	for id, o := range objs {
		if o.OwnerOID == 0 {
			continue
		}
		if owner, ok := byObj[key{o.OwnerClass, o.OwnerOID}]; ok && owner != id {
			out[id] = owner
		}
	}
	return out
}

// lookupTarget asks the target, for each chosen standalone object (and each
// partition), whether it has an object at the same address.
// pg_get_object_address raises an error for an address that resolves to
// nothing; any server error counts as absent, and the restore itself then
// reports a real conflict. Each such error would also land in the target's
// server log as an ERROR a DBA has to explain, so the lookup runs in a
// temporary function that catches it (see hasObjectFunc); a role that may
// not create temporary objects gets the plain query.
func lookupTarget(ctx context.Context, tgt *pgx.Conn, chosen []Entry, owners map[int]int, objs map[int]object) (map[int]bool, error) {
	quiet := true
	if _, err := tgt.Exec(ctx, hasObjectFunc); err != nil {
		quiet = false
	}
	out := map[int]bool{}
	for _, e := range chosen {
		o, ok := objs[e.ID]
		if !ok || (owners[e.ID] != 0 && e.Desc != "TABLE") {
			continue
		}
		args := o.Args
		if args == nil {
			args = []string{}
		}
		found, err := hasObject(ctx, tgt, quiet, o.Type, o.Names, args)
		if err != nil {
			return nil, fmt.Errorf("look up %s %s on the target: %w", o.Type, o.Identity, err)
		}
		out[e.ID] = found
	}
	return out, nil
}

// hasObject reports whether the target has the object at an address,
// through hasObjectFunc when quiet, else through the plain query, whose
// server error (logged) means absent.
func hasObject(ctx context.Context, tgt *pgx.Conn, quiet bool, typ string, names, args []string) (bool, error) {
	if quiet {
		var found bool
		err := tgt.QueryRow(ctx, "SELECT pg_temp.pgvecrep_has_object($1, $2, $3)", typ, names, args).Scan(&found)
		return found, err
	}
	_, err := tgt.Exec(ctx, "SELECT pg_get_object_address($1, $2, $3)", typ, names, args)
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) {
		return false, nil
	}
	return err == nil, err
}

// hasObjectFunc is pg_get_object_address as a yes or no: the error for an
// address that resolves to nothing is caught inside PL/pgSQL, where the
// server does not log it.
const hasObjectFunc = `CREATE OR REPLACE FUNCTION pg_temp.pgvecrep_has_object(t text, n text[], a text[]) RETURNS boolean
LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_get_object_address(t, n, a);
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END
$f$`

// withoutOwnEventTriggers drops from the archive's entries the event
// triggers of pgvecrep's own schema-change capture on the source (their
// functions live in the pgvecrep schema, which the archive leaves out).
// Restored on a target they would call functions it does not have, and
// bootstrap --copy-schema from a source that already feeds another group
// with --ddl auto would fail.
func withoutOwnEventTriggers(ctx context.Context, src *pgx.Conn, entries []Entry) ([]Entry, error) {
	rows, err := src.Query(ctx, `SELECT e.oid FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
WHERE p.pronamespace = to_regnamespace('pgvecrep')`)
	if err != nil {
		return nil, fmt.Errorf("list pgvecrep's event triggers on the source: %w", err)
	}
	own, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("list pgvecrep's event triggers on the source: %w", err)
	}
	return slices.DeleteFunc(entries, func(e Entry) bool {
		return e.Desc == "EVENT TRIGGER" && slices.Contains(own, e.ObjID)
	}), nil
}
