package settle

import (
	"go/build"
	"strings"
	"testing"
)

// TestReadersLeaveBuilderOut: the packages that only read a group's DDL
// state do not import the index builder, which is why Settle lives here
// and not in internal/ddl.
func TestReadersLeaveBuilderOut(t *testing.T) {
	const mod = "github.com/pgvecrep/pgvecrep/internal/"
	for _, reader := range []string{"stats", "ddl"} {
		seen := map[string]bool{}
		var walk func(path string, via []string)
		walk = func(path string, via []string) {
			if seen[path] || !strings.HasPrefix(path, mod) {
				return
			}
			seen[path] = true
			if path == mod+"postdata" || path == mod+"settle" {
				t.Errorf("%s imports %s through %s", reader, path, strings.Join(via, " -> "))
				return
			}
			p, err := build.Import(path, ".", 0)
			if err != nil {
				t.Fatalf("import %s: %v", path, err)
			}
			for _, imp := range p.Imports {
				walk(imp, append(via, strings.TrimPrefix(imp, mod)))
			}
		}
		walk(mod+reader, []string{reader})
	}
}
