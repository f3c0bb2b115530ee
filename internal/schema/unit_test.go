package schema

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testdata/toc.txt is pg_restore -l -v of appFixture's archive (pg_dump 15).
func TestParseTOC(t *testing.T) {
	entries, err := ParseTOC(readTestdata(t, "toc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 29 {
		t.Errorf("%d entries, want 29", len(entries))
	}
	byID := map[int]Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	tests := []struct {
		id         int
		desc       string
		class, obj uint32
		deps       []int
	}{
		{3626, "ENCODING", 0, 0, nil},
		{2, "EXTENSION", 3079, 16385, nil},
		{3630, "COMMENT", 0, 0, []int{2}},
		{221, "TABLE", 1259, 16740, []int{349, 976, 350, 972, 8, 2, 2, 2, 2, 2, 2, 976}},
		{3631, "SEQUENCE OWNED BY", 0, 0, []int{220}},
		{3479, "FK CONSTRAINT", 2606, 16751, []int{221, 219, 3472}},
		{3480, "TRIGGER", 2620, 16758, []int{221, 351}},
		{3467, "DEFAULT", 2604, 16743, []int{220, 221, 221}},
	}
	for _, tt := range tests {
		e := byID[tt.id]
		if e.Desc != tt.desc || e.ClassID != tt.class || e.ObjID != tt.obj || !slices.Equal(e.Deps, tt.deps) {
			t.Errorf("entry %d = %+v, want %s %d %d deps %v", tt.id, e, tt.desc, tt.class, tt.obj, tt.deps)
		}
	}
	if !strings.HasPrefix(byID[221].Line, "221; 1259 16740 TABLE app orders") {
		t.Errorf("line of 221 = %q", byID[221].Line)
	}
	for _, bad := range []string{";\tdepends on: 1\n", "x; 1 2 TABLE a b c\n", "1; x 2 TABLE a b c\n", "1; 2\n", "1; 1 2 TABLE a b\n;\tdepends on: z\n"} {
		if _, err := ParseTOC(bad); err == nil {
			t.Errorf("ParseTOC(%q) succeeded", bad)
		}
	}
}

func FuzzParseTOC(f *testing.F) {
	f.Add("221; 1259 16740 TABLE app orders postgres\n;\tdepends on: 349 976\n")
	f.Add("3631; 0 0 SEQUENCE OWNED BY app orders_id_seq postgres\n")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseTOC(s)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Desc == "" || !strings.Contains(e.Line, e.Desc) {
				t.Errorf("entry without a kind: %+v", e)
			}
		}
	})
}

// fixtureOwners is what describe finds on the source for toc.txt: indexes,
// constraints, defaults and triggers belong to their table, serial and
// identity sequences to theirs.
var fixtureOwners = map[int]int{
	220: 221, 218: 219, 3467: 221, 3476: 221, 3472: 219, 3478: 223,
	3473: 221, 3474: 221, 3480: 221, 3479: 221,
}

func ids(entries []Entry) []int {
	var out []int
	for _, e := range entries {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

func TestChoose(t *testing.T) {
	entries, err := ParseTOC(readTestdata(t, "toc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	all := ids(choose(entries, fixtureOwners, nil))
	if slices.Contains(all, 3629) || len(all) != len(entries)-1 {
		t.Errorf("whole database: %v; want every entry but DATABASE (3629)", all)
	}
	// app.orders (221): settings; schema app; the vector extension and its
	// comment; the types and functions of its columns, default, check and
	// trigger; its sequence, keys, indexes, trigger; and public.customers
	// (219), which its foreign key references, with its key and sequence.
	// Not the view (222), nor public.unrelated (223) and its key (3478).
	want := []int{2, 7, 8, 218, 219, 220, 221, 349, 350, 351, 972, 976, 979,
		3467, 3472, 3473, 3474, 3476, 3479, 3480, 3626, 3627, 3628, 3630, 3631}
	if got := ids(choose(entries, fixtureOwners, map[int]bool{221: true})); !slices.Equal(got, want) {
		t.Errorf("app.orders:\n got %v\nwant %v", got, want)
	}
	// public.unrelated needs nothing but itself, its key and the settings.
	if got := ids(choose(entries, fixtureOwners, map[int]bool{223: true})); !slices.Equal(got, []int{223, 3478, 3626, 3627, 3628}) {
		t.Errorf("public.unrelated: %v", got)
	}
}

func TestPreexisting(t *testing.T) {
	entries, err := ParseTOC(readTestdata(t, "toc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	chosen := choose(entries, fixtureOwners, nil)
	// The target has the extension, schema app and table app.orders.
	have := preexisting(chosen, fixtureOwners, map[int]bool{2: true, 8: true, 221: true})
	var got []int
	for id := range have {
		got = append(got, id)
	}
	slices.Sort(got)
	// Kept with app.orders: its sequence and OWNED BY, default, key,
	// indexes, trigger, foreign key; with the extension: its comment.
	want := []int{2, 8, 220, 221, 3467, 3473, 3474, 3476, 3479, 3480, 3630, 3631}
	if !slices.Equal(got, want) {
		t.Errorf("preexisting:\n got %v\nwant %v", got, want)
	}
}

// testdata/restore.sql is pg_restore's script of appFixture's archive.
func TestSplitScript(t *testing.T) {
	chunks := SplitScript(readTestdata(t, "restore.sql"))
	var objects []string
	for _, c := range chunks {
		objects = append(objects, c.Object)
		if strings.Contains(c.SQL, `\restrict`) || strings.Contains(c.SQL, `\unrestrict`) {
			t.Errorf("%s keeps a psql meta-command", c.Object)
		}
	}
	for _, want := range []string{"settings", "SCHEMA app", "EXTENSION vector", "DOMAIN shop.price", "TABLE app.orders",
		"FK CONSTRAINT app.orders orders_customer_id_fkey", "TRIGGER app.orders orders_touch"} {
		if !slices.Contains(objects, want) {
			t.Errorf("chunks %q lack %q", objects, want)
		}
	}
	if chunks[0].Object != "settings" || !strings.Contains(chunks[0].SQL, "set_config('search_path', '', false)") {
		t.Errorf("first chunk = %+v, want the settings", chunks[0])
	}
	for _, c := range chunks {
		if c.Object == "TABLE app.orders" && !strings.HasPrefix(c.SQL, "CREATE TABLE app.orders (") {
			t.Errorf("table chunk starts %q", c.SQL[:min(40, len(c.SQL))])
		}
	}
}

func TestChildEnv(t *testing.T) {
	parent := []string{"PATH=/bin", "SOURCE_DB_URL=postgres://u:secret@h/db", "TARGET_DB_URL=x", "PGSSLMODE=disable", "HOME=/root"}
	tests := []struct {
		dsn  string
		want []string
	}{
		{"postgres://me:p%40ss@db.example:6432/app?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x",
			[]string{"PGUSER=me", "PGPASSWORD=p@ss", "PGHOST=db.example", "PGPORT=6432", "PGDATABASE=app",
				"PGSSLMODE=verify-full", "PGSSLROOTCERT=/etc/ca.pem", "PGAPPNAME=x"}},
		{"postgresql://a,b:5433/d?target_session_attrs=read-write&pool_max_conns=4&search_path=app",
			[]string{"PGHOST=a,b", "PGPORT=,5433", "PGDATABASE=d", "PGTARGETSESSIONATTRS=read-write", `PGOPTIONS=-c search_path=app`}},
		{"postgres://[::1]:5432/d", []string{"PGHOST=::1", "PGPORT=5432"}},
		{"host=/tmp port=5432 user=me password=it\\'s dbname=d sslmode=require",
			[]string{"PGHOST=/tmp", "PGPORT=5432", "PGUSER=me", "PGPASSWORD=it's", "PGSSLMODE=require"}},
	}
	for _, tt := range tests {
		env, err := ChildEnv(tt.dsn, parent)
		if err != nil {
			t.Errorf("ChildEnv(%q): %v", tt.dsn, err)
			continue
		}
		for _, w := range tt.want {
			if !slices.Contains(env, w) {
				t.Errorf("ChildEnv(%q) = %q, lacks %q", tt.dsn, env, w)
			}
		}
		for _, v := range env {
			if strings.HasPrefix(v, "SOURCE_DB_URL=") || strings.HasPrefix(v, "TARGET_DB_URL=") || strings.Contains(v, "pool_max") {
				t.Errorf("ChildEnv(%q) passes %q", tt.dsn, v)
			}
		}
		if !slices.Contains(env, "PATH=/bin") {
			t.Errorf("ChildEnv(%q) dropped PATH", tt.dsn)
		}
	}
	env, _ := ChildEnv("host=h password='a b\\' c'", nil)
	if !slices.Contains(env, "PGPASSWORD=a b' c") {
		t.Errorf("quoted password: %q", env)
	}
	for _, bad := range []string{"host", "password='open", "password='a''b' x=1", "postgres://u:p@h:1:2:3/%zz"} {
		if _, err := ChildEnv(bad, nil); err == nil {
			t.Errorf("ChildEnv(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "open") || strings.Contains(err.Error(), ":p@") {
			t.Errorf("ChildEnv(%q) error shows the secret: %v", bad, err)
		}
	}
}

// TestPasswordNeverInArguments: pg_dump (here a fake that records what it
// got) finds the password and the URL's TLS settings in its environment,
// and neither the password nor pgvecrep's URL variables elsewhere.
func TestPasswordNeverInArguments(t *testing.T) {
	dir := t.TempDir()
	fake := dir + "/pg_dump"
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/args\nenv > " + dir + "/env\necho 'pg_dump: error: boom' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TARGET_DB_URL", "postgres://u:tgt-secret@t/db")
	const secret = "S3cret-pw"
	url := "postgres://me:" + secret + "@db.example:6432/app?sslmode=verify-ca&sslrootcert=/etc/ca.pem"
	err := Copy(context.Background(), nil, nil, Options{SourceURL: url, PgDump: fake})
	if err == nil || !strings.Contains(err.Error(), "boom") || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v: want pg_dump's complaint, without the password", err)
	}
	args, env := readFile(t, dir+"/args"), readFile(t, dir+"/env")
	if strings.Contains(args, secret) || strings.Contains(args, "db.example") {
		t.Errorf("pg_dump arguments carry connection details: %s", args)
	}
	for _, want := range []string{"PGPASSWORD=" + secret, "PGSSLMODE=verify-ca", "PGSSLROOTCERT=/etc/ca.pem", "PGHOST=db.example", "PGPORT=6432"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("pg_dump environment lacks %s", want)
		}
	}
	if strings.Contains(env, "tgt-secret") {
		t.Errorf("pg_dump environment carries TARGET_DB_URL")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGroups(t *testing.T) {
	c := func(n int) Chunk { return Chunk{SQL: strings.Repeat("x", n)} }
	tests := []struct {
		sizes []int
		want  []int // chunks per group
	}{
		{nil, nil},
		{[]int{10}, []int{1}},
		{[]int{40, 40, 40}, []int{2, 1}},
		{[]int{500, 10, 10}, []int{1, 2}},
		{[]int{10, 500, 10}, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		var chunks []Chunk
		for _, n := range tt.sizes {
			chunks = append(chunks, c(n))
		}
		var got []int
		for _, g := range groups(chunks, 100) {
			got = append(got, len(g))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("groups(%v) = %v, want %v", tt.sizes, got, tt.want)
		}
	}
}
