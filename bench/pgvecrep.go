package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tool runs the pgvecrep binary the way a user does: a command, flags, and
// the two URLs in the environment.
type tool struct {
	bin string
	tmp string // the directory bin was built in, removed at the end
	// echo, when set, receives pgvecrep's output as it comes (-v).
	echo io.Writer
}

// buildTool compiles ./cmd/pgvecrep of the module at root into dir.
func buildTool(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "pgvecrep")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/pgvecrep")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/pgvecrep: %w\n%s", err, out)
	}
	return bin, nil
}

// line is one output line and when it arrived, since the command started.
type line struct {
	at   time.Duration
	text string
}

// lineWriter splits a command's output into timestamped lines.
type lineWriter struct {
	mu    sync.Mutex
	start time.Time
	buf   []byte
	lines []line
	echo  io.Writer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := time.Since(w.start)
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		text := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.lines = append(w.lines, line{at: at, text: text})
		if w.echo != nil {
			fmt.Fprintf(w.echo, "    | %s\n", text)
		}
	}
	return len(p), nil
}

// output is a finished pgvecrep command.
type output struct {
	lines []line
	wall  time.Duration
}

// text is the last n lines, for errors.
func (o output) text(n int) string {
	ls := o.lines[max(len(o.lines)-n, 0):]
	var b strings.Builder
	for _, l := range ls {
		b.WriteString("    " + l.text + "\n")
	}
	return b.String()
}

// run runs pgvecrep args against the two URLs and returns its output lines
// and wall time. A non-zero exit is an error that quotes the output's end.
func (t tool) run(ctx context.Context, srcURL, tgtURL string, args ...string) (output, error) {
	cmd := exec.CommandContext(ctx, t.bin, args...)
	cmd.Env = append(environ("SOURCE_DB_URL", "TARGET_DB_URL", "SECONDARY_SOURCE_DB_URL"),
		"SOURCE_DB_URL="+srcURL, "TARGET_DB_URL="+tgtURL)
	w := &lineWriter{echo: t.echo}
	cmd.Stdout, cmd.Stderr = w, w
	w.start = time.Now()
	err := cmd.Run()
	out := output{wall: time.Since(w.start)}
	w.mu.Lock()
	if len(w.buf) > 0 {
		w.lines = append(w.lines, line{at: out.wall, text: string(w.buf)})
	}
	out.lines = w.lines
	w.mu.Unlock()
	if err != nil {
		return out, fmt.Errorf("pgvecrep %s: %w; its output ends with:\n%s", args[0], err, out.text(15))
	}
	return out, nil
}

// environ is this process's environment without the named variables.
func environ(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			keep = keep && name != d
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// What start_sync prints, by phase. Lines start with "[m:ss.s] ". The copy
// ends with a summary ("all 3 table(s) copied in 0:06.2"), builds end with
// "built vector items_embedding_idx in 0:17.1"; a line's own duration, when
// it states one, is preferred to arrival times.
var (
	stampRE     = regexp.MustCompile(`^\[\d+:\d+(?:\.\d+)?\]\s?`)
	copiedRE    = regexp.MustCompile(`(?i)\bcopied\b`)
	buildingRE  = regexp.MustCompile(`(?i)^\s*build(ing)?\b`)
	builtRE     = regexp.MustCompile(`(?i)^\s*built\b|\bindex\b.*:\s*(done|already built)\b`)
	inElapsedRE = regexp.MustCompile(`\bin (\d+):(\d+(?:\.\d+)?)\b`)
	rejectedRE  = regexp.MustCompile(`(?i)copy.mode.*fast|fast.*copy.mode`)
)

// phases are start_sync's wall time split into the copy, the index builds
// and the rest (preflight, publication, slot, subscription, analyze).
type phases struct {
	copy, index, other time.Duration
}

// splitPhases finds the copy and the builds in start_sync's output. The
// copy ends at the last "copied" line before the first build line and lasts
// as long as that line says (or since the first line); the builds run from
// there to the last "built" line. ok is false when the output has no copy
// summary to go by.
func splitPhases(lines []line, wall time.Duration) (p phases, ok bool) {
	copyEnd, firstBuild := -1, len(lines)
	for i, l := range lines {
		text := stampRE.ReplaceAllString(l.text, "")
		if buildingRE.MatchString(text) || builtRE.MatchString(text) {
			firstBuild = i
			break
		}
		if copiedRE.MatchString(text) {
			copyEnd = i
		}
	}
	if copyEnd < 0 || len(lines) == 0 {
		return phases{other: wall}, false
	}
	end := lines[copyEnd]
	p.copy = end.at - lines[0].at
	if d, ok := elapsedIn(stampRE.ReplaceAllString(end.text, "")); ok && d <= end.at {
		p.copy = d
	}
	for _, l := range lines[firstBuild:] {
		if builtRE.MatchString(stampRE.ReplaceAllString(l.text, "")) {
			p.index = l.at - end.at
		}
	}
	p.other = max(wall-p.copy-p.index, 0)
	return p, true
}

// elapsedIn reads "in m:ss.s" from a line.
func elapsedIn(text string) (time.Duration, bool) {
	m := inElapsedRE.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	mins, _ := strconv.Atoi(m[1])
	secs, _ := strconv.ParseFloat(m[2], 64)
	return time.Duration(mins)*time.Minute + time.Duration(secs*float64(time.Second)), true
}
