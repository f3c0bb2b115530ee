package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/metrics"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

// metrics is a command of its own, not "stats --watch --listen": an
// exporter runs unattended (systemd, a sidecar) for as long as the group
// lives, reads the stats when Prometheus scrapes rather than on a timer of
// its own, and has no screen to redraw; stats --watch is for a person.
func init() {
	register(&command{
		name:    "metrics",
		summary: "serve a group's stats as Prometheus metrics on /metrics",
		usage:   "--group-name GROUP [--listen :9187]",
		help: `Metrics serves the group's stats on http://LISTEN/metrics in Prometheus' text
format, read fresh at every scrape (the scrape interval sets the load on the
databases): the phase (pgvecrep_phase{phase=...} 0 or 1), pgvecrep_stalled
(1 while the group applies nothing although it should), the subscription's
apply and sync error counters, lag in bytes and seconds (the transaction in
flight counted; pgvecrep_lag_seconds is always there while the source is
reachable), the transaction in flight, the apply rate over the last 10 s and
the estimated catch-up time, the WAL the slot holds, tables by state, rows
and bytes copied, running copies and index builds
(pgvecrep_index_build_progress_ratio), the WAL position the target
confirmed (rate() of pgvecrep_applied_wal_bytes_total) and pgvecrep_up.
Each apply stream has its own series, labelled stream with its name:
pgvecrep_stream_lag_bytes, pgvecrep_stream_lag_seconds,
pgvecrep_stream_catch_up_seconds, pgvecrep_stream_stalled,
pgvecrep_stream_up and pgvecrep_stream_apply_errors_total; with several
streams (start_sync --apply-workers N) the group's lag series are the
slowest stream's.
After a switchover that left a way back, the reverse stream's too:
pgvecrep_reverse_up (1 while the source follows the target),
pgvecrep_reverse_state{state=...}, pgvecrep_reverse_lag_bytes,
pgvecrep_reverse_lag_seconds and pgvecrep_reverse_apply_errors_total. A
scrape that cannot read the stats answers pgvecrep_up 0 and logs why; lost
connections are opened again. Ctrl-C stops it. README's "Alerting" has
example alert rules.

Example:
  pgvecrep metrics --group-name database-cluster-1 --listen :9187`,
		run: runMetrics,
	})
}

func runMetrics(ctx context.Context, env *Env, args []string) error {
	var name, listen string
	f := groupFlags(env, "metrics", &name)
	f.stringVar(&listen, "listen", "", ":9187", "address to serve /metrics on, host:port")
	pre := preamble{group: &name, source: optional, sourceIfSet: true, target: required,
		check: func() error {
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return fmt.Errorf("--listen wants host:port such as :9187 or 127.0.0.1:9187, got %q", listen)
			}
			return nil
		}}
	conns := &reconnecting{f: f, pre: pre}
	if _, err := conns.get(ctx, args); err != nil {
		return err
	}
	defer conns.close()
	log := env.logger().With("group", name)
	hist := stats.NewHistory()
	read := func(ctx context.Context) (stats.Report, error) {
		s, err := conns.get(ctx, nil)
		if err != nil {
			return stats.Report{}, err
		}
		return collectHistory(ctx, s, name, hist)
	}
	h, err := metrics.Handler(metrics.New(name, read, func(err error) {
		log.Warn("metrics: read stats failed", "err", oneLine(err.Error()))
	}))
	if err != nil {
		return err
	}
	return serveMetrics(ctx, listen, h, func(url string) {
		fmt.Fprintf(env.Stdout, "serving metrics of group %s on %s (Ctrl-C to stop)\n", name, url)
	})
}

// serveMetrics serves h on /metrics at listen until ctx ends, then shuts
// the server down gracefully; announce hears the URL once listening (the
// metrics command prints it, follow logs it). Shared by both so a scrape
// behaves the same from either.
func serveMetrics(ctx context.Context, listen string, h http.Handler, announce func(url string)) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	announce("http://" + ln.Addr().String() + "/metrics")
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}

// reconnecting keeps a command's session open across lost connections,
// for the commands that run until stopped (notify, metrics).
type reconnecting struct {
	f   *flags
	pre preamble
	s   *session
}

// get returns an open session, opening one when there is none or the
// target's connection was lost. The first call parses args.
func (r *reconnecting) get(ctx context.Context, args []string) (*session, error) {
	if r.s != nil && r.s.tgt != nil && !r.s.tgt.IsClosed() {
		return r.s, nil
	}
	r.close()
	s, err := r.f.open(ctx, args, r.pre)
	if err != nil {
		return nil, err
	}
	r.s = s
	return s, nil
}

func (r *reconnecting) close() {
	if r.s != nil {
		r.s.close()
		r.s = nil
	}
}
