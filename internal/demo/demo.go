// Package demo runs the logical replication tutorial end to end on two
// throwaway local clusters, with pgvecrep doing the replication.
//
// It lives apart from the command line because it is not a command's
// plumbing: it starts servers, fills tables and compares answers. The steps
// are a table (steps.go), so the tutorial reads top to bottom in one place
// and a step is added or moved without touching the code that runs them.
// pgvecrep's own commands reach it as a function (Options.Pgvecrep), which
// keeps this package below the cli package.
package demo

import (
	"context"
	"fmt"
	"io"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
)

// Options configure a demo run.
type Options struct {
	// Out receives the demo's output: step headings, tables, verdicts.
	Out io.Writer
	// Pgvecrep runs one pgvecrep command with the given environment
	// variables set on top of the process's, and returns its exit code.
	Pgvecrep func(ctx context.Context, env map[string]string, args []string) int
	// Keep leaves the clusters running and prints their URLs.
	Keep bool
	// Upgrade runs the tutorial as a major-version upgrade: the default
	// server (the system's 15) as the source, a PostgreSQL UpgradeMajor
	// server (built by PG_EXTRA_MAJOR=18 scripts/install-deps.sh) as the
	// target, ending with the switchover onto the newer version.
	Upgrade bool
	// RoundTrip goes back after the switchover: 100 rows written on the
	// target reach the source through the reverse stream, switchback
	// returns to the source, and the target follows it again (with
	// Upgrade: 15 -> 18 -> 15).
	RoundTrip bool
	// Port is the source's TCP port and Port+1 the target's, for a machine
	// where a firewall or other servers decide which ports may be used; 0
	// picks two free ports.
	Port int
}

// UpgradeMajor is the target version of the demo's --upgrade.
const UpgradeMajor = 18

// Group is the replication group the demo creates.
const Group = "database-cluster-1"

// queryVector is the tutorial's query vector.
const queryVector = "[0.40671515, 0.24202824, 0.37059402, 0.50316447, 0.10779921, 0.80774295, 0.8879849, 0.31292745, 0.05584943, 0.8738258]"

// run is one demo's clusters and what its steps share.
type run struct {
	opts     Options
	src, tgt *localpg.Cluster
	urls     map[string]string // SOURCE_DB_URL and TARGET_DB_URL of the clusters
	failures int               // steps where the two sides answered differently
	last     []neighbour       // the source's last answer, kept for after it stops
}

// Run starts the clusters, runs every step and removes the clusters (unless
// Keep). It fails when a step fails or the two sides ever answered the
// tutorial's query differently.
func Run(ctx context.Context, opts Options) error {
	r := &run{opts: opts}
	if err := r.start(ctx); err != nil {
		return err
	}
	if !opts.Keep {
		defer r.stop()
	}
	err := r.steps(ctx)
	if opts.Keep {
		fmt.Fprintf(opts.Out, "\nClusters left running:\n  SOURCE_DB_URL=%s\n  TARGET_DB_URL=%s\n", r.src.URL("postgres"), r.tgt.URL("postgres"))
	}
	if err != nil {
		return err
	}
	if r.failures > 0 {
		return hint.New(fmt.Sprintf("demo: source and target differed at %d step(s)", r.failures),
			"run pgvecrep demo --keep and compare the two databases")
	}
	fmt.Fprintln(opts.Out, "\nDemo passed: the target answered every query exactly as the source did.")
	return nil
}

// steps runs the table of steps in order, stopping at the first error.
func (r *run) steps(ctx context.Context) error {
	for _, s := range r.table() {
		if s.title != "" {
			r.heading(s.title)
		}
		if err := s.do(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) start(ctx context.Context) error {
	bin, err := localpg.FindBinDir()
	if err != nil {
		return hint.Wrap(err, "run make demo (it installs PostgreSQL and pgvector), or scripts/install-deps.sh")
	}
	tgtBin := bin
	if r.opts.Upgrade {
		if tgtBin, err = localpg.FindMajor(UpgradeMajor); err != nil {
			return hint.Wrap(err, fmt.Sprintf("run PG_EXTRA_MAJOR=%d bash scripts/install-deps.sh (or make deps) in the pgvecrep checkout: it builds PostgreSQL %d beside the system's server once, in 3 to 20 minutes", UpgradeMajor, UpgradeMajor))
		}
	}
	for _, b := range []string{bin, tgtBin} {
		if !localpg.HasVector(b) {
			return hint.New("pgvector is not installed for "+b, "run scripts/install-deps.sh (or make demo)")
		}
	}
	r.heading("Deploying two PostgreSQL clusters (wal_level=logical)")
	if r.src, err = localpg.Start(ctx, localpg.Options{BinDir: bin, Port: r.opts.Port}); err != nil {
		return portHint(fmt.Errorf("start source cluster: %w", err), r.opts.Port)
	}
	if r.tgt, err = localpg.Start(ctx, localpg.Options{BinDir: tgtBin, Port: r.port(1)}); err != nil {
		_ = r.src.Stop()
		return portHint(fmt.Errorf("start target cluster: %w", err), r.opts.Port)
	}
	fmt.Fprintf(r.opts.Out, "source: PostgreSQL %d at %s\ntarget: PostgreSQL %d at %s\n", r.src.Major, r.src.URL("postgres"), r.tgt.Major, r.tgt.URL("postgres"))
	r.urls = map[string]string{"SOURCE_DB_URL": r.src.URL("postgres"), "TARGET_DB_URL": r.tgt.URL("postgres")}
	return nil
}

// port is the demo's port plus offset, or 0 (a free one) without --port.
func (r *run) port(offset int) int {
	if r.opts.Port == 0 {
		return 0
	}
	return r.opts.Port + offset
}

// portHint says what to do when a cluster could not start on the ports
// --port chose.
func portHint(err error, port int) error {
	if port == 0 {
		return err
	}
	return hint.Wrap(err, fmt.Sprintf("the demo's clusters listen on --port %d and %d; choose two free ports, or leave --port out and the demo picks free ones", port, port+1))
}

func (r *run) stop() {
	r.heading("Removing the clusters")
	_ = r.src.Stop()
	_ = r.tgt.Stop()
}

func (r *run) heading(title string) {
	fmt.Fprintf(r.opts.Out, "\n== %s\n", title)
}
