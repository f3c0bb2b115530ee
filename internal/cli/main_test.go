package cli

import (
	"os"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestMain starts the package's source and target clusters once; every test
// file of package cli shares them (do not add another TestMain).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
