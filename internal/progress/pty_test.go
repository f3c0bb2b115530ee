package progress

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/progress/vt"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// ptyTerm is a Printer drawing on a pseudo-terminal of a fixed size.
type ptyTerm struct {
	t  *testing.T
	p  *Printer
	vt *vt.Term
}

func newTerm(t *testing.T, width int) *ptyTerm {
	t.Helper()
	term, err := vt.Open(width, 40)
	if err != nil {
		testenv.Need(t, "a pseudo-terminal", err)
	}
	t.Cleanup(term.Close)
	tm := &ptyTerm{t: t, vt: term, p: NewAuto(term.TTY)}
	if !tm.p.Live() {
		t.Fatal("a pseudo-terminal is not drawn on live")
	}
	return tm
}

// status sets a live line and redraws at once, as a poll a second later would.
func (tm *ptyTerm) status(key, line string) {
	tm.p.mu.Lock()
	tm.p.drawn = time.Time{}
	tm.p.mu.Unlock()
	tm.p.Status(key, "%s", line)
}

// sync waits until everything written so far is on the screen.
func (tm *ptyTerm) sync() []string {
	tm.t.Helper()
	rows, err := tm.vt.Sync()
	if err != nil {
		tm.t.Fatalf("%v; screen:\n%s", err, strings.Join(rows, "\n"))
	}
	return rows
}

// resize changes the terminal's width; the screen rewraps as a terminal does.
func (tm *ptyTerm) resize(width int) {
	if err := tm.vt.Resize(width); err != nil {
		tm.t.Fatal(err)
	}
}

// stamp removes the [m:ss.s] prefix of permanent lines.
func stamp(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		if strings.HasPrefix(r, "[") {
			if _, rest, ok := strings.Cut(r, "] "); ok {
				r = rest
			}
		}
		out[i] = r
	}
	return out
}

const longIndex = "items_embedding_idx_hnsw_with_the_default_long_name_pgvector_gives"

func indexLine(pct float64, elapsed time.Duration) string {
	return Step(IndexLabel("vector", longIndex, "CREATE INDEX x ON public.items USING hnsw (embedding vector_l2_ops)", "public.items"),
		IndexPhase("building index: loading tuples"), pct, elapsed)
}

// TestLiveRedraw draws, redraws and clears live lines wider than the
// terminal between permanent lines, at 60, 80 and 200 columns, and checks
// the screen: every permanent line once, in order, then exactly the live
// lines of the moment, each on one row and ending with its clock.
func TestLiveRedraw(t *testing.T) {
	for _, width := range []int{60, 80, 200} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			tm := newTerm(t, width)
			tm.p.Printf("created publication pgvecrep_g on the source")
			for i := 1; i <= 5; i++ {
				tm.status("build a", indexLine(float64(i*10), time.Duration(i)*2*time.Second))
				tm.status("build b", Step(IndexLabel("primary", "docs_pkey", "", "public.docs"), "sorting live tuples", float64(i*15), time.Duration(i)*time.Second))
				tm.status("~total", "total "+Bar(int64(i), 10)+" of ~16.0 KiB, 331.0 KiB/s, ETA 0:05.0 and some more words to be wider than sixty")
				tm.p.Printf("permanent line %d, which is long enough to wrap at sixty columns and at eighty columns too, once", i)
			}
			tm.p.Clear("build b")
			tm.p.Printf("built primary key docs_pkey on public.docs in 0:05.0")
			rows := stamp(tm.sync())
			var want []string
			want = append(want, "created publication pgvecrep_g on the source")
			for i := 1; i <= 5; i++ {
				want = append(want, fmt.Sprintf("permanent line %d, which is long enough to wrap at sixty columns and at eighty columns too, once", i))
			}
			want = append(want, "built primary key docs_pkey on public.docs in 0:05.0")
			got := strings.Join(rows, "\n")
			// Permanent lines wrap where the terminal wraps them; compare
			// the text without the row breaks and spaces.
			flat := strings.NewReplacer("\n", "", " ", "")
			if !strings.Contains(flat.Replace(got), flat.Replace(strings.Join(want, ""))) {
				t.Errorf("permanent lines are not all there once, in order:\n%s", got)
			}
			live := rows[len(rows)-2:]
			if !strings.HasPrefix(live[0], "  index ") || !strings.HasSuffix(live[0], "[####····] 50%  0:10, ~0:10 left") {
				t.Errorf("index line = %q", live[0])
			}
			if !strings.HasPrefix(live[1], "  total [") {
				t.Errorf("total line = %q", live[1])
			}
			for _, r := range live {
				if len([]rune(r)) >= width {
					t.Errorf("live row of %d characters at %d columns: %q", len([]rune(r)), width, r)
				}
			}
			if strings.Count(got, "total [") != 1 || strings.Count(got, "loading tuples") != 1 || strings.Contains(got, "docs_pkey public.docs") {
				t.Errorf("stale live lines on the screen:\n%s", got)
			}
		})
	}
}

// TestLiveResize narrows and widens the terminal between redraws: the
// block is erased whole each time, so no stale row stays behind.
func TestLiveResize(t *testing.T) {
	tm := newTerm(t, 200)
	tm.p.Printf("first permanent line")
	tm.status("build a", indexLine(20, 4*time.Second))
	tm.status("~total", "total "+Bar(2, 10)+" of ~16.0 KiB, 331.0 KiB/s, ETA 0:05.0")
	for _, width := range []int{60, 80, 200, 70} {
		tm.resize(width)
		tm.status("build a", indexLine(40, 8*time.Second))
		tm.p.Printf("after resize to %d", width)
		rows := stamp(tm.sync())
		got := strings.Join(rows, "\n")
		if strings.Count(got, "loading tuples") != 1 || strings.Count(got, "total [") != 1 {
			t.Errorf("at %d columns the screen has stale live lines:\n%s", width, got)
		}
		if last := rows[len(rows)-1]; !strings.HasPrefix(last, "  total [") || len([]rune(last)) >= width {
			t.Errorf("at %d columns the last row is %q", width, last)
		}
		if rows[0] != "first permanent line" {
			t.Errorf("at %d columns the first permanent line is gone:\n%s", width, got)
		}
	}
}

// TestInterruptClearsLive: Interrupt erases the live block; the rollback's
// lines that follow are plain, say Ctrl-C, and no bar is drawn after them.
func TestInterruptClearsLive(t *testing.T) {
	defer interrupted.Store(false)
	tm := newTerm(t, 120)
	tm.p.Printf("copied public.docs: 60 rows")
	tm.status("build a", indexLine(40, 8*time.Second))
	tm.status("~total", "total "+Bar(2, 10))
	Interrupt()
	tm.p.Printf("start_sync failed: build index: context canceled; removing what it created")
	tm.status("build a", indexLine(60, 9*time.Second))
	tm.p.Printf("dropped replication slot pgvecrep_g on the source")
	got := stamp(tm.sync())
	want := []string{"copied public.docs: 60 rows",
		"start_sync failed: build index: interrupted (Ctrl-C); removing what it created",
		"dropped replication slot pgvecrep_g on the source"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen after Ctrl-C:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"short", 10, "short"},
		{"a long line without a tab", 10, "a long li…"},
		{"label that is long\t50%  0:10", 20, "label th…  50%  0:10"},
		{"label\t50%  0:10, ~0:10 left", 12, "label  50% …"},
	} {
		if got := Fit(tc.in, tc.width); got != tc.want {
			t.Errorf("Fit(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

func TestStep(t *testing.T) {
	got := Step(IndexLabel("vector", "items_emb_hnsw", "CREATE INDEX items_emb_hnsw ON public.items USING hnsw (emb vector_cosine_ops)", "public.items"),
		IndexPhase("building index: loading tuples"), 39, 10*time.Second)
	if want := "index items_emb_hnsw (hnsw) public.items\tloading tuples [###·····] 39%  0:10, ~0:16 left"; got != want {
		t.Errorf("Step = %q, want %q", got, want)
	}
	if got := Step("x", "initializing", 0, 3*time.Second); got != "x\tinitializing 0:03" {
		t.Errorf("Step without a percentage = %q", got)
	}
	leaf := IndexPhase("partition public.docs_2024 (1 of 3): building index: loading tuples")
	if want := "partition public.docs_2024 (1 of 3): loading tuples"; leaf != want {
		t.Errorf("IndexPhase of a leaf build = %q, want %q", leaf, want)
	}
}
