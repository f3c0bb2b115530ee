package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestMain starts the package's source and target clusters once; every test
// file of package cli shares them (do not add another TestMain). It removes
// the pgvecrep binary the process tests built, which would otherwise stay
// behind in the temporary directory after every run.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
