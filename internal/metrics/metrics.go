// Package metrics exposes a group's stats to Prometheus. Each scrape reads a
// fresh report (see [Read]) instead of caching one on a timer: the scrape
// interval is then the only knob, and a value is never older than the scrape
// that returned it. Metric names follow Prometheus' conventions: a pgvecrep_
// prefix, base units in the name (_bytes, _seconds, _ratio), _total on
// counters, and enumerations (phase, table state) as labels.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

// Read returns the group's report now. The collector calls it once per
// scrape, never twice at a time, so it may use one connection.
type Read func(ctx context.Context) (stats.Report, error)

// Phases are the values of the phase label, every one exported as 0 or 1 so
// that a dashboard's query sees a phase end, not a series vanish.
var Phases = []group.Phase{group.Bootstrapped, group.Copying, group.Indexing, group.Streaming, group.Stalled,
	group.SwitchedOver, group.FailedOver, group.Stopped, group.Failed}

var (
	upDesc       = desc("up", "1 when the last scrape read the group's stats, else 0.")
	sourceUpDesc = desc("source_up", "1 when the source was reachable for this scrape, else 0 (lag and slot metrics are then missing).")
	phaseDesc    = desc("phase", "1 for the group's current phase, 0 for the others.", "phase")
	stalledDesc  = desc("stalled", "1 while the group applies nothing although it should (the apply or table-sync worker of one of its apply streams keeps failing, or a subscription is disabled), else 0; pgvecrep stats says why.")
	applyErrors  = desc("apply_errors_total", "Failures of the subscription's apply worker (pg_stat_subscription_stats.apply_error_count; back to 0 when those statistics are reset), summed over the group's apply streams.")
	syncErrors   = desc("sync_errors_total", "Failures of the subscription's table-sync workers (pg_stat_subscription_stats.sync_error_count), summed over the group's apply streams.")
	lagBytes     = desc("lag_bytes", "WAL bytes the target has not committed: the source's current position minus the slot's confirmed_flush_lsn, or, while the apply worker is in a transaction, minus where the target's last commit ended (the transaction in flight counts). With several apply streams, the slowest stream's (see pgvecrep_stream_lag_bytes).")
	lagSeconds   = desc("lag_seconds", "How long the oldest change the target has not committed has waited: 0 when nothing is pending; before the apply worker's first message, at least how long it has waited for one; while no worker applies, at least the time since this exporter last saw the target where it is now. Absent only while the source is unreachable. With several apply streams, the slowest stream's.")
	inFlight     = desc("in_flight_bytes", "WAL bytes of the transaction the apply worker (the slowest stream's) is applying (up to where the source's walsender has read), 0 when none.")
	catchUp      = desc("catch_up_seconds", "Estimated seconds until the target has committed what is pending now, at the apply rate of the last 10 s; 0 when caught up; absent while unknown (nothing committed in the window, no apply worker). With several apply streams, the slowest stream's.")
	slotWAL      = desc("slot_wal_bytes", "WAL the group's replication slot keeps on the source (from its restart_lsn); with several apply streams, the most any of their slots keeps.")
	tablesDesc   = desc("tables", "Tables of the group by state.", "state")
	rowsCopied   = desc("copied_rows_total", "Rows copied by pgvecrep's initial copy (fast mode), summed over the group's tables.")
	bytesCopied  = desc("copied_bytes_total", "Bytes copied by pgvecrep's initial copy (fast mode), summed over the group's tables.")
	copyRows     = desc("copy_in_progress_rows", "Rows the COPY commands running on the target have written so far.", "table")
	buildRatio   = desc("index_build_progress_ratio", "Progress of a running index build, 0 to 1.", "index", "table", "method", "phase")
	appliedWAL   = desc("applied_wal_bytes_total", "The WAL position the target has confirmed, in bytes (with several apply streams, the earliest any of their slots has confirmed); rate() of it is the apply rate.")
	mismatch     = desc("verify_mismatch", "1 for each difference follow's continuous verifier found between source and target that persisted after the lag drained and no later pass has found healthy: a chunk of rows (range: its key range (lo, hi]), a keyless table (range: whole table) or a nearest-neighbour sample (range: the column, the distance and the query's key).", "table", "range")
	applyRate    = desc("apply_rate_bytes_per_second", "WAL bytes the target committed per second over the last 10 s (or between the last two scrapes, when they are further apart); with several apply streams, the slowest stream's.")

	// Each apply stream's (stats.StreamStat), labelled with its name: one
	// stream, or as many as start_sync's --apply-workers made. The group's
	// series above are the slowest stream's, and its error counters the
	// streams' sums.
	streamLag     = streamDesc("lag_bytes", "WAL bytes the stream's subscription has not committed, as pgvecrep_lag_bytes measures them; absent while unknown (source unreachable, no slot).")
	streamLagSecs = streamDesc("lag_seconds", "How long the oldest change the stream's subscription has not committed has waited, as pgvecrep_lag_seconds measures it; absent while the source is unreachable.")
	streamCatchUp = streamDesc("catch_up_seconds", "Estimated seconds until the stream's subscription has committed what is pending now, at its apply rate of the last 10 s; absent while unknown.")
	streamStalled = streamDesc("stalled", "1 while the stream's subscription applies nothing although it exists: disabled, or its apply or table-sync worker keeps failing; else 0.")
	streamUp      = streamDesc("up", "1 while the stream's subscription has an apply worker running, else 0 (absent, disabled, failing, or no worker free: max_logical_replication_workers).")
	streamErrors  = streamDesc("apply_errors_total", "Failures of the stream's apply worker (pg_stat_subscription_stats.apply_error_count); absent while the stream has no subscription.")

	// The reverse stream's, present only while a switchover's way back
	// exists: the source follows the target until switchback or stop_sync.
	reverseUp      = desc("reverse_up", "1 while the source follows the target through the reverse stream a switchover left (its subscription on the source exists and applies), 0 when that subscription is missing, disabled or failing, or the source is unreachable; absent without a reverse stream.")
	reverseState   = desc("reverse_state", "1 for the reverse stream's current state, 0 for the others; absent without a reverse stream.", "state")
	reverseLag     = desc("reverse_lag_bytes", "WAL bytes of the target the source has not committed through the reverse stream (the transaction in flight counted); absent while unknown.")
	reverseLagSecs = desc("reverse_lag_seconds", "How long the oldest change made on the target that the source has not committed has waited, 0 when none; absent while unknown.")
	reverseErrors  = desc("reverse_apply_errors_total", "Failures of the reverse subscription's apply worker on the source (a row or a schema change made on the target that does not apply there).")
)

// ReverseStates are the values of pgvecrep_reverse_state's state label:
// every one is exported, 0 or 1, while the stream exists.
var ReverseStates = []group.ReverseState{group.ReversePreparing, group.ReverseStreaming, group.ReverseDetaching}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("pgvecrep_"+name, help, append([]string{"group"}, labels...), nil)
}

// streamDesc is an apply stream's metric, pgvecrep_stream_<name>{group,stream}.
func streamDesc(name, help string) *prometheus.Desc { return desc("stream_"+name, help, "stream") }

// Collector is a prometheus.Collector over one group's stats.
type Collector struct {
	group   string
	read    Read
	timeout time.Duration

	mu      sync.Mutex
	onError func(error)
}

// New returns a collector of group's metrics. onError, if not nil, hears
// why a scrape could not read the stats (the scrape still answers, with
// pgvecrep_up 0).
func New(groupName string, read Read, onError func(error)) *Collector {
	return &Collector{group: groupName, read: read, timeout: 30 * time.Second, onError: onError}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, sourceUpDesc, phaseDesc, stalledDesc, applyErrors, syncErrors, lagBytes, lagSeconds,
		inFlight, catchUp, slotWAL, tablesDesc, rowsCopied, bytesCopied, copyRows, buildRatio, appliedWAL, applyRate, mismatch,
		streamLag, streamLagSecs, streamCatchUp, streamStalled, streamUp, streamErrors,
		reverseUp, reverseState, reverseLag, reverseLagSecs, reverseErrors} {
		ch <- d
	}
}

// Collect reads the stats and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	r, err := c.read(ctx)
	if err != nil {
		if c.onError != nil {
			c.onError(err)
		}
		ch <- c.gauge(upDesc, 0)
		return
	}
	ch <- c.gauge(upDesc, 1)
	for _, p := range Phases {
		ch <- c.gauge(phaseDesc, boolf(r.Phase == p), string(p))
	}
	c.health(ch, r)
	c.lag(ch, r)
	c.streams(ch, r.Streams)
	c.tables(ch, r)
	for _, b := range r.Builds {
		ch <- c.gauge(buildRatio, b.Percent/100, b.Index, b.Table, b.Method, b.Phase)
	}
	for _, cp := range r.Copies {
		ch <- c.gauge(copyRows, float64(cp.Rows), cp.Table)
	}
	for _, m := range r.Mismatches {
		ch <- c.gauge(mismatch, 1, m.Table, m.Range)
	}
	c.reverse(ch, r.Reverse)
}

// reverse sends the reverse stream's metrics, when there is one.
func (c *Collector) reverse(ch chan<- prometheus.Metric, v *stats.ReverseStat) {
	if v == nil {
		return
	}
	ch <- c.gauge(reverseUp, boolf(v.Health != nil && !v.Health.Stalled))
	for _, s := range ReverseStates {
		ch <- c.gauge(reverseState, boolf(v.State == s), string(s))
	}
	if v.LagBytes != nil {
		ch <- c.gauge(reverseLag, float64(*v.LagBytes))
	}
	if v.LagSeconds != nil {
		ch <- c.gauge(reverseLagSecs, *v.LagSeconds)
	}
	if v.Health != nil {
		ch <- prometheus.MustNewConstMetric(reverseErrors, prometheus.CounterValue, float64(v.Health.ApplyErrors), c.group)
	}
}

// streams sends each apply stream's lag and health.
func (c *Collector) streams(ch chan<- prometheus.Metric, streams []stats.StreamStat) {
	for _, s := range streams {
		l := s.Lag
		for _, m := range []struct {
			d *prometheus.Desc
			v *float64
		}{{streamLagSecs, l.Seconds}, {streamCatchUp, l.CatchUp}} {
			if m.v != nil {
				ch <- c.gauge(m.d, *m.v, s.Name)
			}
		}
		if l.Bytes != nil {
			ch <- c.gauge(streamLag, float64(*l.Bytes), s.Name)
		}
		ch <- c.gauge(streamStalled, boolf(s.Health != nil && s.Health.Stalled), s.Name)
		ch <- c.gauge(streamUp, boolf(s.State == stats.StreamStreaming), s.Name)
		if s.Health != nil {
			ch <- prometheus.MustNewConstMetric(streamErrors, prometheus.CounterValue, float64(s.Health.ApplyErrors), c.group, s.Name)
		}
	}
}

// health sends the stall flag, always, and the subscription's error
// counters while it has one.
func (c *Collector) health(ch chan<- prometheus.Metric, r stats.Report) {
	ch <- c.gauge(stalledDesc, boolf(r.Stalled()))
	if h := r.Health; h != nil {
		ch <- prometheus.MustNewConstMetric(applyErrors, prometheus.CounterValue, float64(h.ApplyErrors), c.group)
		ch <- prometheus.MustNewConstMetric(syncErrors, prometheus.CounterValue, float64(h.SyncErrors), c.group)
	}
}

func (c *Collector) lag(ch chan<- prometheus.Metric, r stats.Report) {
	l := r.Lag
	ch <- c.gauge(sourceUpDesc, boolf(l.SourceReachable))
	for _, m := range []struct {
		d *prometheus.Desc
		v *float64
	}{{lagSeconds, l.Seconds}, {catchUp, l.CatchUp}, {applyRate, l.ApplyRate}} {
		if m.v != nil {
			ch <- c.gauge(m.d, *m.v)
		}
	}
	if l.Bytes != nil {
		ch <- c.gauge(lagBytes, float64(*l.Bytes))
		var b int64
		if l.InFlight != nil {
			b = l.InFlight.Bytes
		}
		ch <- c.gauge(inFlight, float64(b))
	}
	if l.SlotWALBytes != nil {
		ch <- c.gauge(slotWAL, float64(*l.SlotWALBytes))
	}
	if lsn, err := replication.ParseLSN(l.ConfirmedLSN); err == nil {
		ch <- prometheus.MustNewConstMetric(appliedWAL, prometheus.CounterValue, float64(lsn), c.group)
	}
}

func (c *Collector) tables(ch chan<- prometheus.Metric, r stats.Report) {
	byState := map[string]int{}
	var rows, bytes int64
	for _, t := range r.Tables {
		byState[t.State]++
		rows += t.RowsCopied
		bytes += t.BytesCopied
	}
	for state, n := range byState {
		ch <- c.gauge(tablesDesc, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(rowsCopied, prometheus.CounterValue, float64(rows), c.group)
	ch <- prometheus.MustNewConstMetric(bytesCopied, prometheus.CounterValue, float64(bytes), c.group)
}

func (c *Collector) gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{c.group}, labels...)...)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves the collector's metrics, plus Go's process metrics, in
// Prometheus' text format.
func Handler(c *Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}
