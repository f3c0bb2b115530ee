package follow

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgvecrep/pgvecrep/internal/metrics"
)

var (
	checkedDesc = prometheus.NewDesc("pgvecrep_verify_chunks_checked_total",
		"Key-range chunks follow's continuous verifier has compared between source and target.", []string{"group"}, nil)
	mismatchDesc = prometheus.NewDesc("pgvecrep_verify_mismatches_total",
		"Chunks that still differed after the lag had drained past them (each recheck after the slot confirmed the source's WAL position).", []string{"group"}, nil)
	passDesc = prometheus.NewDesc("pgvecrep_verify_last_full_pass_timestamp_seconds",
		"Unix time at which the verifier last finished a pass over every table of the group without a mismatch; absent before the first.", []string{"group"}, nil)
	nnCheckedDesc = prometheus.NewDesc("pgvecrep_verify_neighbour_checks_total",
		"Nearest-neighbour samples follow's verifier has compared: the exact top-10 of one query vector, by an indexed vector column, on both sides.", []string{"group"}, nil)
	nnMismatchDesc = prometheus.NewDesc("pgvecrep_verify_neighbour_mismatches_total",
		"Nearest-neighbour samples whose top-10 still differed after the lag had drained past them.", []string{"group"}, nil)
)

// collector exports the verifier's counters. The open mismatches
// (pgvecrep_verify_mismatch) are the stats collector's: they are read from
// the group's metadata, which pgvecrep metrics serves too.
type collector struct {
	group string
	v     *Verifier
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{checkedDesc, mismatchDesc, passDesc, nnCheckedDesc, nnMismatchDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	checked, mismatches, last := c.v.Counts()
	ch <- prometheus.MustNewConstMetric(checkedDesc, prometheus.CounterValue, float64(checked), c.group)
	ch <- prometheus.MustNewConstMetric(mismatchDesc, prometheus.CounterValue, float64(mismatches), c.group)
	nn, nnBad := c.v.NeighbourCounts()
	ch <- prometheus.MustNewConstMetric(nnCheckedDesc, prometheus.CounterValue, float64(nn), c.group)
	ch <- prometheus.MustNewConstMetric(nnMismatchDesc, prometheus.CounterValue, float64(nnBad), c.group)
	if !last.IsZero() {
		ch <- prometheus.MustNewConstMetric(passDesc, prometheus.GaugeValue, float64(last.Unix()), c.group)
	}
}

// Handler serves the group's stats (stats, the collector that
// pgvecrep metrics serves) together with the verifier's metrics and Go's.
// metrics.Handler takes one collector only, so follow builds its own
// registry.
func (f *Follower) Handler(stats *metrics.Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{stats, collector{group: f.opt.Group, v: f.Verify}, collectors.NewGoCollector()} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}
