package schema

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Entry is one line of an archive's table of contents (pg_restore -l -v).
// Only the fields pgvecrep decides on are parsed: the dump id, the catalog
// address of the object on the source and its kind. Names are not parsed
// from the listing because they are ambiguous there (names may contain
// spaces); the source catalog names objects by ClassID and ObjID instead.
type Entry struct {
	ID      int
	ClassID uint32 // catalog table of the object on the source; 0 for entries with no object
	ObjID   uint32
	Desc    string // TABLE, INDEX, FK CONSTRAINT, ...
	Deps    []int  // dump ids this entry depends on
	Line    string // the listing line, written back for pg_restore -L
}

// descs are the entry kinds pg_dump writes, longest first within a shared
// prefix so that "FK CONSTRAINT" is not read as "FK".
var descs = []string{
	"ACCESS METHOD", "ACL", "AGGREGATE", "BLOB METADATA", "BLOBS", "BLOB", "CAST", "CHECK CONSTRAINT",
	"COLLATION", "COMMENT", "CONSTRAINT", "CONVERSION", "DATABASE PROPERTIES", "DATABASE", "DEFAULT ACL",
	"DEFAULT", "DOMAIN", "ENCODING", "EVENT TRIGGER", "EXTENSION", "FK CONSTRAINT", "FOREIGN DATA WRAPPER",
	"FOREIGN TABLE", "FUNCTION", "INDEX ATTACH", "INDEX", "LARGE OBJECT", "MATERIALIZED VIEW DATA",
	"MATERIALIZED VIEW", "OPERATOR CLASS", "OPERATOR FAMILY", "OPERATOR", "POLICY", "PROCEDURAL LANGUAGE",
	"PROCEDURE", "PUBLICATION TABLES IN SCHEMA", "PUBLICATION TABLE", "PUBLICATION", "ROW SECURITY", "RULE",
	"SCHEMA", "SEARCHPATH", "SECURITY LABEL", "SEQUENCE OWNED BY", "SEQUENCE SET", "SEQUENCE", "SERVER",
	"SHELL TYPE", "STATISTICS DATA", "STATISTICS", "STDSTRINGS", "SUBSCRIPTION TABLE", "SUBSCRIPTION",
	"TABLE ATTACH", "TABLE DATA", "TABLE", "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY",
	"TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "TRANSFORM", "TRIGGER", "TYPE", "USER MAPPING", "VIEW",
}

// settingDescs make the SET statements at the head of the script; they are
// always restored and create nothing.
var settingDescs = map[string]bool{"ENCODING": true, "STDSTRINGS": true, "SEARCHPATH": true}

// skippedDescs are never copied: the database itself, privileges, data,
// publications and subscriptions (pgvecrep makes its own), and materialized
// view contents (a switchover concern).
var skippedDescs = map[string]bool{
	"DATABASE": true, "DATABASE PROPERTIES": true, "ACL": true, "DEFAULT ACL": true,
	"TABLE DATA": true, "SEQUENCE SET": true, "BLOB": true, "BLOBS": true, "BLOB METADATA": true,
	"LARGE OBJECT": true, "MATERIALIZED VIEW DATA": true, "STATISTICS DATA": true,
	"PUBLICATION": true, "PUBLICATION TABLE": true, "PUBLICATION TABLES IN SCHEMA": true,
	"SUBSCRIPTION": true, "SUBSCRIPTION TABLE": true,
}

// ParseTOC reads the output of pg_restore -l -v: "id; classid objid DESC
// schema name owner" lines, each optionally followed by a
// ";\tdepends on: id id ..." line.
func ParseTOC(listing string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(strings.NewReader(listing))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, ";"); ok {
			deps, isDeps := strings.CutPrefix(strings.TrimSpace(rest), "depends on:")
			if !isDeps {
				continue // a comment
			}
			if len(out) == 0 {
				return nil, fmt.Errorf("parse archive listing line %d: dependencies before any entry", n)
			}
			for _, f := range strings.Fields(deps) {
				id, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("parse archive listing line %d: dependency %q: %w", n, f, err)
				}
				out[len(out)-1].Deps = append(out[len(out)-1].Deps, id)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			return nil, fmt.Errorf("parse archive listing line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func parseEntry(line string) (Entry, error) {
	idText, rest, ok := strings.Cut(line, "; ")
	if !ok {
		return Entry{}, fmt.Errorf("no dump id in %q", line)
	}
	id, err := strconv.Atoi(idText)
	if err != nil {
		return Entry{}, fmt.Errorf("dump id in %q: %w", line, err)
	}
	f := strings.SplitN(rest, " ", 3)
	if len(f) < 3 {
		return Entry{}, fmt.Errorf("too few fields in %q", line)
	}
	class, err1 := strconv.ParseUint(f[0], 10, 32)
	obj, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return Entry{}, fmt.Errorf("catalog id in %q", line)
	}
	desc := ""
	for _, d := range descs {
		if f[2] == d || strings.HasPrefix(f[2], d+" ") {
			desc = d
			break
		}
	}
	if desc == "" {
		desc, _, _ = strings.Cut(f[2], " ")
	}
	if desc == "" {
		return Entry{}, fmt.Errorf("no object kind in %q", line)
	}
	return Entry{ID: id, ClassID: uint32(class), ObjID: uint32(obj), Desc: desc, Line: line}, nil
}
