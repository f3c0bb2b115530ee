package parallel

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestFilter(t *testing.T) {
	s := Spread{Key: []string{"id", `"Tenant"`}, Hash: []string{"hashint8", "hashtext"}}
	if got, want := s.Filter(2, 4), `((hashint8(id) # hashtext("Tenant")) & 2147483647) % 4 = 2`; got != want {
		t.Errorf("Filter = %s, want %s", got, want)
	}
}

// keyTypes are the key column types the generator draws from, each with
// an expression of the row number i that gives distinct values.
var keyTypes = []struct{ typ, value string }{
	{"int2", "(i % 30000)::int2"},
	{"int4", "i"},
	{"int8", "i::int8 * 1000003"},
	{"text", "'k' || i"},
	{"varchar(20)", "('v' || i)::varchar(20)"},
	{"char(8)", "lpad(i::text, 8, '0')::char(8)"},
	{"uuid", "md5(i::text)::uuid"},
	{"numeric(12,2)", "(i / 7.0)::numeric(12,2) + i"},
	{"date", "date '2000-01-01' + i"},
	{"timestamptz", "timestamptz '2000-01-01' + i * interval '1 minute'"},
	{"bytea", "decode(md5(i::text), 'hex')"},
	{"mood", "(ARRAY['sad','ok','happy']::mood[])[1 + i % 3]"},
	{"posint", "i::posint"},
	{"bit(16)", "(i % 65536)::bit(16)"},
}

// TestDecideGenerated draws tables with keys of one to three columns of
// random types, each with a vector index, and checks that every table
// Decide spreads has row filters PostgreSQL accepts in a publication that
// put each row in exactly one of n streams, and that every table kept
// whole says why. make test runs seed 1; PGVECREP_PARALLEL_SEED=random
// draws one (printed) and PGVECREP_PARALLEL_SEED=N reruns it.
func TestDecideGenerated(t *testing.T) {
	seed := uint64(1)
	switch s := os.Getenv("PGVECREP_PARALLEL_SEED"); s {
	case "":
	case "random":
		seed = uint64(time.Now().UnixNano())
	default:
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("PGVECREP_PARALLEL_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	src.Exec(t, `CREATE EXTENSION IF NOT EXISTS vector; CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
		CREATE DOMAIN posint AS int CHECK (VALUE > 0)`)
	const tables = 12
	for i := range tables {
		ncols := 1 + rng.IntN(3)
		var cols, keys, values []string
		for c := range ncols {
			kt := keyTypes[rng.IntN(len(keyTypes))]
			name := fmt.Sprintf("k%d", c)
			cols = append(cols, fmt.Sprintf("%s %s NOT NULL", name, kt.typ))
			keys = append(keys, name)
			values = append(values, kt.value)
		}
		ddl := fmt.Sprintf("CREATE TABLE t%d (%s, e vector(3), PRIMARY KEY (%s)); CREATE INDEX ON t%d USING hnsw (e vector_l2_ops)",
			i, strings.Join(cols, ", "), strings.Join(keys, ", "), i)
		t.Log(ddl)
		src.Exec(t, ddl)
		src.Exec(t, fmt.Sprintf("INSERT INTO t%d SELECT %s, '[1,2,3]' FROM generate_series(1, 500) i ON CONFLICT DO NOTHING",
			i, strings.Join(values, ", ")))
	}
	ctx := context.Background()
	conn := src.Conn(t)
	defer conn.Close(ctx)
	all, err := catalog.Tables(ctx, conn, catalog.Filter{Schema: "public"})
	if err != nil {
		t.Fatal(err)
	}
	n := 2 + rng.IntN(3)
	p, err := Decide(ctx, conn, all, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spread)+len(p.Kept) != tables {
		t.Fatalf("%d spread + %d kept, want %d tables judged", len(p.Spread), len(p.Kept), tables)
	}
	for _, k := range p.Kept {
		if !strings.Contains(k.Why, "hash function") {
			t.Errorf("%s kept whole: %s", k.Table, k.Why)
		}
	}
	for k := range n {
		name := fmt.Sprintf("pub%d", k)
		var list []string
		for _, s := range p.Spread {
			list = append(list, s.Table.Quoted()+" WHERE ("+p.Filters(k)[s.Table]+")")
		}
		if len(list) > 0 {
			src.Exec(t, "CREATE PUBLICATION "+name+" FOR TABLE "+strings.Join(list, ", "))
		}
	}
	for _, s := range p.Spread {
		var sum strings.Builder
		for k := range n {
			fmt.Fprintf(&sum, " + (%s)::int", s.Filter(k, n))
		}
		q := fmt.Sprintf("SELECT count(*) FILTER (WHERE 1 <> 0%s) FROM %s", sum.String(), s.Table.Quoted())
		if bad := src.QueryInt(t, q); bad != 0 {
			t.Errorf("%s: %d rows not in exactly one of %d streams (%s)", s.Table, bad, n, s.Filter(0, n))
		}
		if rows := src.QueryInt(t, "SELECT count(*) FROM "+s.Table.Quoted()); rows == 0 {
			t.Errorf("%s has no rows: the check proves nothing", s.Table)
		}
	}
	t.Logf("%d streams: %d table(s) spread, %d kept", n, len(p.Spread), len(p.Kept))
}
