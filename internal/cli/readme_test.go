package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// readmeBlocks returns the fenced blocks of one language in one section
// (## heading) of the README.
func readmeBlocks(t *testing.T, section, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## "+section+"\n")
	if start < 0 {
		t.Fatalf("README has no section %q", section)
	}
	text = text[start+1:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	var blocks []string
	for {
		i := strings.Index(text, "```"+lang+"\n")
		if i < 0 {
			return blocks
		}
		text = text[i+len(lang)+4:]
		j := strings.Index(text, "```")
		if j < 0 {
			t.Fatalf("unterminated %s block in README section %q", lang, section)
		}
		blocks = append(blocks, text[:j])
		text = text[j+3:]
	}
}

// shellWords splits a command line as a POSIX shell does for the simple
// lines a README holds: words, single and double quotes, and a comment
// that starts a word.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		case c == '#' && !inWord:
			return words
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// firstWrite cancels a context when something is first written: a
// --watch command has then shown what it shows, and the test presses Ctrl-C.
type firstWrite struct {
	bytes.Buffer
	once   sync.Once
	cancel context.CancelFunc
}

func (f *firstWrite) Write(p []byte) (int, error) {
	f.once.Do(f.cancel)
	return f.Buffer.Write(p)
}

// TestREADMETutorial runs the README's tutorial as written: every line of
// its shell blocks, in order, with pgvecrep in-process and the two URLs
// pointed at local clusters (the only change), on a source with the demo's
// table and an empty target; then its SQL block on the target. A --watch
// line is stopped (as by Ctrl-C) once it has printed.
func TestREADMETutorial(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE test (id integer PRIMARY KEY, embedding vector(10) NOT NULL);
		CREATE INDEX ON test USING hnsw (embedding vector_l2_ops);`)
	insertRandom(t, src, "test", 1, 100)
	vars := map[string]string{}
	ran := 0
	for _, block := range readmeBlocks(t, "The tutorial on your own databases", "sh") {
		for _, line := range strings.Split(block, "\n") {
			words := shellWords(line)
			switch {
			case len(words) == 0:
			case words[0] == "export" && len(words) == 2:
				name, value, _ := strings.Cut(words[1], "=")
				vars[name] = map[string]string{"SOURCE_DB_URL": src.URL, "TARGET_DB_URL": tgt.URL}[name]
				if vars[name] == "" {
					vars[name] = value
				}
			case words[0] == "pgvecrep":
				runREADMELine(t, line, vars, words[1:])
				ran++
			default:
				t.Fatalf("README tutorial line the test cannot run: %q", line)
			}
		}
	}
	if ran < 6 {
		t.Fatalf("ran %d pgvecrep lines of the README's tutorial, want at least 6", ran)
	}
	for _, q := range readmeBlocks(t, "The tutorial on your own databases", "sql") {
		if ids := tgt.QueryStrings(t, strings.TrimSuffix(strings.TrimSpace(q), ";")); len(ids) != 10 {
			t.Errorf("the README's query returned %d rows on the target, want 10", len(ids))
		}
	}
}

// runREADMELine runs one pgvecrep line of the README and checks it exits 0.
func runREADMELine(t *testing.T, line string, vars map[string]string, args []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var stdout interface {
		Write([]byte) (int, error)
		String() string
	} = &out
	if strings.Contains(line, "--watch") {
		stdout = &firstWrite{cancel: cancel}
	}
	var errb bytes.Buffer
	if code := pgtest.RunCLITo(ctx, RunEnv, stdout, &errb, vars, args...); code != 0 {
		t.Fatalf("README line %q exited %d\nstdout:\n%s\nstderr:\n%s", strings.TrimSpace(line), code, stdout.String(), errb.String())
	}
	if testing.Verbose() {
		t.Logf("%s\n%s%s", strings.TrimSpace(line), stdout.String(), errb.String())
	}
}
