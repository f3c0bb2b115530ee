package copier

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

func table(name string, bytes, pages int64) catalog.Table {
	return catalog.Table{
		Name:  pg.Name{Schema: "public", Name: name},
		Bytes: bytes, Pages: pages,
		Columns: []catalog.Column{{Name: "id"}, {Name: "Vec Col"}, {Name: "g", Generated: true}},
	}
}

func TestPlan(t *testing.T) {
	const mb = 1 << 20
	part := table("parted", 500*mb, 0)
	part.Partitioned = true
	leaves := table("tree", 0, 0)
	leaves.Partitioned = true
	leaves.Parts = []catalog.Part{{Name: pg.Name{Schema: "public", Name: "tree_a"}, Bytes: 2 * mb, Pages: 256},
		{Name: pg.Name{Schema: "public", Name: "tree_b"}, Bytes: 20 * mb, Pages: 2560}}
	tests := []struct {
		name   string
		tables []catalog.Table
		jobs   int
		split  int64
		want   []string // job strings in order
	}{
		{"no split, largest first", []catalog.Table{table("a", 1*mb, 128), table("b", 3*mb, 384)}, 2, 10 * mb,
			[]string{"public.b", "public.a"}},
		{"split by pages, open-ended tail", []catalog.Table{table("a", 1*mb, 128), table("big", 30*mb, 3840)}, 2, 10 * mb,
			[]string{
				"public.big [ctid < '(1280,0)'::tid]",
				"public.big [ctid >= '(1280,0)'::tid AND ctid < '(2560,0)'::tid]",
				"public.big [ctid >= '(2560,0)'::tid]",
				"public.a",
			}},
		{"unknown pages guessed from size", []catalog.Table{table("big", 16*mb, 0)}, 1, 8 * mb,
			[]string{"public.big [ctid < '(1024,0)'::tid]", "public.big [ctid >= '(1024,0)'::tid]"}},
		{"never more parts than pages", []catalog.Table{table("toast", 100*mb, 2)}, 1, 10 * mb,
			[]string{"public.toast [ctid < '(1,0)'::tid]", "public.toast [ctid >= '(1,0)'::tid]"}},
		{"partitioned table without leaves read whole", []catalog.Table{part}, 4, 10 * mb, []string{"public.parted"}},
		{"partitioned table copied by leaf, large leaves split", []catalog.Table{leaves}, 4, 10 * mb, []string{
			"public.tree (public.tree_b) [ctid < '(1280,0)'::tid]",
			"public.tree (public.tree_b) [ctid >= '(1280,0)'::tid]",
			"public.tree (public.tree_a)",
		}},
		{"auto split: total/jobs, at least 64MB", []catalog.Table{table("a", 100*mb, 12800), table("b", 50*mb, 6400)}, 2, 0,
			[]string{"public.a [ctid < '(6400,0)'::tid]", "public.a [ctid >= '(6400,0)'::tid]", "public.b"}},
		{"auto split leaves small tables whole", []catalog.Table{table("a", 10*mb, 1280)}, 8, 0, []string{"public.a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs := Plan(tt.tables, tt.jobs, tt.split)
			var got []string
			for _, j := range jobs {
				got = append(got, j.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Plan =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCopySQL(t *testing.T) {
	j := Plan([]catalog.Table{table(`Wëird "T" x`, 1, 1)}, 1, 0)[0]
	if got, want := j.copyOutSQL("binary"), `COPY (SELECT "id", "Vec Col" FROM ONLY "public"."Wëird ""T"" x") TO STDOUT (FORMAT binary)`; got != want {
		t.Errorf("copy out:\n got %s\nwant %s", got, want)
	}
	if got, want := j.copyInSQL("text"), `COPY "public"."Wëird ""T"" x" ("id", "Vec Col") FROM STDIN (FORMAT text)`; got != want {
		t.Errorf("copy in:\n got %s\nwant %s", got, want)
	}
	j.Where, j.Inherited = "ctid >= '(3,0)'::tid", true
	if got, want := j.copyOutSQL("text"), `COPY (SELECT "id", "Vec Col" FROM "public"."Wëird ""T"" x" WHERE ctid >= '(3,0)'::tid) TO STDOUT (FORMAT text)`; got != want {
		t.Errorf("copy out:\n got %s\nwant %s", got, want)
	}
	leaf := Job{Table: pg.Name{Schema: "app", Name: "t"}, Part: pg.Name{Schema: "app", Name: "t_1"}, Inherited: true}
	if got, want := leaf.copyOutSQL("binary"), `COPY (SELECT * FROM ONLY "app"."t_1") TO STDOUT (FORMAT binary)`; got != want {
		t.Errorf("leaf copy out:\n got %s\nwant %s", got, want)
	}
	if got, want := leaf.copyInSQL("binary"), `COPY "app"."t" FROM STDIN (FORMAT binary)`; got != want {
		t.Errorf("leaf copy in through the root:\n got %s\nwant %s", got, want)
	}
	leaf.Into = leaf.Part
	if got, want := leaf.copyInSQL("binary"), `COPY "app"."t_1" FROM STDIN (FORMAT binary)`; got != want {
		t.Errorf("leaf copy in:\n got %s\nwant %s", got, want)
	}
}
