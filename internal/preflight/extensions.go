package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// extensions: every extension whose types the selected tables use, and every
// vector extension on the source, must exist on the target at the same or a
// newer version, or the target cannot hold (or binary-copy) the data.
func (c *checker) extensions(ctx context.Context) {
	srcExt, err := catalog.Extensions(ctx, c.src)
	if err != nil {
		c.broken("extensions", fmt.Errorf("on the source: %w", err))
		return
	}
	tgtExt, err := catalog.Extensions(ctx, c.tgt)
	if err != nil {
		c.broken("extensions", fmt.Errorf("on the target: %w", err))
		return
	}
	avail, err := catalog.AvailableVersions(ctx, c.tgt)
	if err != nil {
		c.broken("extensions", fmt.Errorf("on the target: %w", err))
		return
	}
	needed := neededExtensions(srcExt, c.report.Tables)
	if len(needed) == 0 {
		c.ok("extensions", "the selected tables use no extension types and the source has no vector extension")
		return
	}
	installed := map[string]string{}
	for _, e := range tgtExt {
		installed[e.Name] = e.Version
	}
	for _, e := range needed {
		c.add(extensionFinding(e, installed[e.Name], avail[e.Name]))
	}
}

// neededExtensions are the source's extensions that provide a column type of
// a selected table, plus its vector extensions.
func neededExtensions(srcExt []catalog.Extension, ts []catalog.Table) []catalog.Extension {
	used := map[string]bool{}
	for _, t := range ts {
		for _, col := range t.Columns {
			if col.TypeExt != "" {
				used[col.TypeExt] = true
			}
		}
	}
	var out []catalog.Extension
	for _, e := range srcExt {
		if used[e.Name] || vector.Known(e.Name) {
			out = append(out, e)
		}
	}
	return out
}

// extensionFinding judges one source extension against what the target has
// installed (installed, "" if not) and could install (available).
func extensionFinding(e catalog.Extension, installed string, available []string) Finding {
	f := Finding{Check: "extensions", Status: StatusOK}
	best := newest(available)
	install := fmt.Sprintf("install %s %s or newer on the target server", project(e.Name), e.Version)
	switch {
	case installed != "" && CompareVersions(installed, e.Version) >= 0:
		f.Detail = fmt.Sprintf("%s %s on the source, %s installed on the target", e.Name, e.Version, installed)
	case installed != "":
		f.Status = StatusError
		f.Detail = fmt.Sprintf("extension %s is %s on the target, older than %s on the source", e.Name, installed, e.Version)
		f.Hint = install + fmt.Sprintf(", then run ALTER EXTENSION %s UPDATE on the target", e.Name)
		if to := updateTarget(e.Version, available); to != "" {
			f.Hint = fmt.Sprintf("run ALTER EXTENSION %s UPDATE TO '%s' on the target", e.Name, to)
		}
	case best == "":
		f.Status = StatusError
		f.Detail = fmt.Sprintf("extension %s %s is installed on the source but not available on the target server", e.Name, e.Version)
		f.Hint = install
	case CompareVersions(best, e.Version) < 0:
		f.Status = StatusError
		f.Detail = fmt.Sprintf("extension %s %s is installed on the source, but the target server offers only up to %s", e.Name, e.Version, best)
		f.Hint = install
	default:
		f.Detail = fmt.Sprintf("%s %s on the source, available on the target (up to %s), not installed there yet", e.Name, e.Version, best)
	}
	return f
}

// updateTarget is the version to update the target to: the source's when the
// target offers it, else the newest offered if that is newer, else "".
func updateTarget(want string, available []string) string {
	if slices.Contains(available, want) {
		return want
	}
	if best := newest(available); best != "" && CompareVersions(best, want) > 0 {
		return best
	}
	return ""
}

func newest(versions []string) string {
	best := ""
	for _, v := range versions {
		if best == "" || CompareVersions(v, best) > 0 {
			best = v
		}
	}
	return best
}

// project names an extension the way its users know it: "pgvector (extension
// vector)".
func project(ext string) string {
	for _, e := range vector.Extensions {
		if e.Name == ext && e.Project != ext {
			return fmt.Sprintf("%s (extension %s)", e.Project, ext)
		}
	}
	return ext
}

// CompareVersions compares two extension versions numerically, part by part:
// -1 if a is older than b, 0 if equal, +1 if newer. "0.8.0" > "0.7.4",
// "0.10.0" > "0.9.1", "1.0" == "1.0.0", and a release is newer than its
// pre-releases ("1.0" > "1.0beta1").
func CompareVersions(a, b string) int {
	ta, tb := versionTokens(a), versionTokens(b)
	for i := 0; i < max(len(ta), len(tb)); i++ {
		var x, y string
		if i < len(ta) {
			x = ta[i]
		}
		if i < len(tb) {
			y = tb[i]
		}
		if c := compareToken(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// versionTokens splits a version into runs of digits and runs of other
// letters; dots, dashes and other punctuation only separate.
func versionTokens(v string) []string {
	var out []string
	cur := ""
	curDigit := false
	for _, r := range v {
		isDigit := r >= '0' && r <= '9'
		isLetter := !isDigit && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		if cur != "" && (!(isDigit || isLetter) || isDigit != curDigit) {
			out = append(out, cur)
			cur = ""
		}
		if isDigit || isLetter {
			cur += string(r)
			curDigit = isDigit
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// compareToken orders two tokens; "" is a missing token, which counts as 0
// against a number and as newer than a pre-release word.
func compareToken(x, y string) int {
	if x == y {
		return 0
	}
	xNum, yNum := isNumber(x), isNumber(y)
	switch {
	case x == "" && yNum:
		x, xNum = "0", true
	case y == "" && xNum:
		y, yNum = "0", true
	case x == "":
		return 1
	case y == "":
		return -1
	}
	switch {
	case xNum && yNum:
		return compareNumbers(x, y)
	case xNum:
		return 1
	case yNum:
		return -1
	}
	return strings.Compare(x, y)
}

func isNumber(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// compareNumbers compares digit strings of any length without overflow.
func compareNumbers(x, y string) int {
	x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
	if len(x) != len(y) {
		if len(x) < len(y) {
			return -1
		}
		return 1
	}
	return strings.Compare(x, y)
}
