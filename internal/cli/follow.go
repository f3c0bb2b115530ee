package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgvecrep/pgvecrep/internal/follow"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/metrics"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

func init() {
	register(&command{
		name:    "follow",
		summary: "run for the life of a group: finish schema changes, verify continuously, serve metrics, notify",
		usage:   "--group-name GROUP [--listen :9187] [-u URL [-f SECONDS]] [--verify-rate 1]",
		help: `Follow runs until the group is switched over, failed over, stopped or
removed, or until SIGINT/SIGTERM. Every --interval it finishes what the
apply worker cannot do inside its transaction, as apply_ddl_change does:
tables created on the source join the subscription with their rows, and
deferred vector indexes are built concurrently. It re-checks the group's
rows, one primary-key chunk at a time (--verify-rate chunks a second; 0
disables it), and reports a chunk that still differs once the lag has
drained past it, naming the table and the key range. Every
--verify-neighbour-every chunks (default 600, about ten minutes; 0
disables it) it compares the exact 10 nearest neighbours of one source
vector, per indexed vector column in turn, on both sides, and reports a
list that still differs. An exact top 10 reads the whole table on both
sides: on a large table raise it, or set 0. A table without a primary
key or replica identity index is compared whole (row count and a hash of
every row, each check a full read on both sides), when it has at most
--verify-keyless-rows rows (default 100000; 0 for none) and holds still
on the source during the check; a larger one is skipped, and follow says
so. A mismatch is kept in the group's metadata, where stats shows it,
until a later check finds its range equal again. --listen serves
/metrics (metrics' series plus pgvecrep_verify_*); -u posts the stats
JSON every -f seconds, and a mismatch at once.

A second follow of the same group refuses. Kill it at any time: the next
one picks up where it stopped (an index build cut short is dropped and
built again, once). On a terminal it keeps a status line; elsewhere, or
with --log-format json, it writes JSON log lines to stderr.

Exit codes: 0 the group was switched over, stopped or removed, or a
signal stopped follow (after finishing or rolling back its step); 3 the
group was failed over; 1 the group failed, or follow could not run.

Example:
  pgvecrep follow --group-name database-cluster-1 --listen :9187`,
		run: runFollow,
	})
}

// followOpts are follow's flags.
type followOpts struct {
	name, listen, url  string
	every, notifyEvery time.Duration
	rate               float64
	chunkRows          int
	neighbourEvery     int
	keylessRows        int
}

func (o *followOpts) add(f *flags) {
	f.stringVar(&o.listen, "listen", "", "", "serve /metrics on this host:port (default: no metrics)")
	f.stringVar(&o.url, "url", "u", "", "POST the stats JSON to this URL every --frequency seconds, and each mismatch at once")
	f.secondsVar(&o.notifyEvery, "frequency", "f", 10*time.Second, "seconds between two POSTs")
	f.secondsVar(&o.every, "interval", "", 5*time.Second, "seconds between two looks for schema changes to finish")
	o.rate = 1
	f.Var(&rateValue{p: &o.rate}, "verify-rate", "chunks a second the continuous verifier checks (0 disables it)")
	f.intVar(&o.chunkRows, "verify-chunk-rows", "", 1000, 1, "rows in one verified chunk, at most")
	f.intVar(&o.neighbourEvery, "verify-neighbour-every", "", 600, 0, "chunks between two nearest-neighbour samples; each reads the whole table on both sides (0 disables them)")
	f.intVar(&o.keylessRows, "verify-keyless-rows", "", 100_000, 0, "the most rows a table without a key may have to be verified whole, by count and hash, when it holds still (0: none)")
}

func (o *followOpts) check() error {
	if o.listen != "" {
		if _, _, err := net.SplitHostPort(o.listen); err != nil {
			return fmt.Errorf("--listen wants host:port such as :9187 or 127.0.0.1:9187, got %q", o.listen)
		}
	}
	if o.url != "" {
		return checkNotifyURL(o.url)
	}
	return nil
}

func runFollow(ctx context.Context, env *Env, args []string) error {
	var o followOpts
	f := groupFlags(env, "follow", &o.name)
	o.add(f)
	pre := followPreamble(&o.name)
	pre.check = o.check
	s, err := f.open(ctx, args, pre)
	if err != nil {
		return err
	}
	return followGroup(ctx, env, f, s, o)
}

// followPreamble is what follow connects: the target, and the source when
// a URL names it (follow waits for an unreachable one).
func followPreamble(name *string) preamble {
	return preamble{group: name, source: optional, sourceIfSet: true, target: required, load: true}
}

// followGroup follows group o.name until it ends or ctx is cancelled, and
// says how it ended (see followEnd). s is an open session it takes over
// for notify, or nil; f's flags are parsed.
func followGroup(ctx context.Context, env *Env, f *flags, s *session, o followOpts) error {
	pre := followPreamble(&o.name)
	out := newFollowOutput(env)
	notes := &reconnecting{f: f, pre: pre, s: s}
	defer notes.close()
	var n *notifier
	if o.url != "" {
		n = &notifier{env: env, url: o.url, client: &http.Client{Timeout: 10 * time.Second}, log: out.log.With("group", o.name, "url", redactURL(o.url))}
		out.onMismatch = func(e follow.Event) { n.postEvent(ctx, o.name, e) }
	}
	fl := follow.New(follow.Options{Group: o.name, Every: o.every, VerifyRate: o.rate, ChunkRows: o.chunkRows, NeighbourEvery: o.neighbourEvery,
		KeylessRows: o.keylessRows},
		func(ctx context.Context, role pg.Role) (*pgx.Conn, error) {
			c, _, err := f.dial(ctx, role)
			return c, err
		}, out.log, out.emit)
	g, gctx := errgroup.WithContext(ctx)
	var phase group.Phase
	var runErr error
	g.Go(func() error {
		phase, runErr = fl.Run(gctx)
		return errFollowDone // ends the notifier and the metrics server
	})
	if n != nil {
		g.Go(func() error { return notifyLoop(gctx, n, notes, o) })
	}
	if o.listen != "" {
		g.Go(func() error { return serveFollowMetrics(gctx, f, pre, fl, o, out.log) })
	}
	err := g.Wait()
	out.close()
	if errors.Is(err, errFollowDone) {
		err = runErr
	}
	return followEnd(ctx, env, o.name, phase, err)
}

// errFollowDone ends follow's other goroutines once the follower returns.
var errFollowDone = errors.New("follow done")

// followEnd turns how follow ended into its exit: 0 for a group that ended
// normally or a signal, 3 for a failover, 1 for a failed group or an error.
func followEnd(ctx context.Context, env *Env, name string, phase group.Phase, err error) error {
	if ctx.Err() != nil {
		fmt.Fprintf(env.Stdout, "follow of group %s stopped\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	switch phase {
	case group.FailedOver:
		fmt.Fprintf(env.Stdout, "group %s was failed over: follow ends\n", name)
		return &exitError{code: 3, err: errSilent}
	case group.Failed:
		return hint.Wrap(fmt.Errorf("group %q failed", name), "see why with: pgvecrep stats -g "+shellQuote(name))
	}
	fmt.Fprintf(env.Stdout, "group %s is %s: follow ends\n", name, phase)
	return nil
}

// notifyLoop posts the stats every o.notifyEvery, as notify does.
func notifyLoop(ctx context.Context, n *notifier, conns *reconnecting, o followOpts) error {
	for {
		if s, err := conns.get(ctx, nil); err != nil {
			n.log.Warn("notify: reconnect failed; trying again at the next tick", "err", oneLine(err.Error()))
		} else {
			n.tick(ctx, s, o.name)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.notifyEvery):
		}
	}
}

// postEvent posts one follow event (a mismatch) as JSON; a nil notifier
// posts nothing.
func (n *notifier) postEvent(ctx context.Context, name string, e follow.Event) {
	if n == nil {
		return
	}
	body, _ := json.Marshal(map[string]string{"event": "verify_mismatch", "group": name, "table": e.Table, "range": e.Range, "message": e.Message})
	if err := n.post(ctx, body); err != nil && ctx.Err() == nil {
		n.log.Warn("notify: POST of a mismatch failed", "err", err.Error())
	}
}

// serveFollowMetrics serves metrics' series and the verifier's on o.listen.
func serveFollowMetrics(ctx context.Context, f *flags, pre preamble, fl *follow.Follower, o followOpts, log *slog.Logger) error {
	conns := &reconnecting{f: f, pre: pre}
	defer conns.close()
	hist := stats.NewHistory()
	read := func(ctx context.Context) (stats.Report, error) {
		s, err := conns.get(ctx, nil)
		if err != nil {
			return stats.Report{}, err
		}
		return collectHistory(ctx, s, o.name, hist)
	}
	h, err := fl.Handler(metrics.New(o.name, read, func(err error) {
		log.Warn("metrics: read stats failed", "group", o.name, "err", oneLine(err.Error()))
	}))
	if err != nil {
		return err
	}
	return serveMetrics(ctx, o.listen, h, func(url string) {
		log.Info("serving metrics", "group", o.name, "url", url)
	})
}

// rateValue is --verify-rate: a number of chunks a second, 0 or more.
type rateValue struct{ p *float64 }

func (v *rateValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'f', -1, 64)
}
func (v *rateValue) Get() any { return *v.p }
func (v *rateValue) Set(s string) error {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || r < 0 || r > 1000 {
		return wants("wants a number of chunks a second from 0 (off) to 1000")
	}
	*v.p = r
	return nil
}

// followOutput renders follow's events: on a terminal a live status line
// and a line per step; elsewhere JSON log lines on stderr.
type followOutput struct {
	mu         sync.Mutex
	log        *slog.Logger
	live       *progress.Printer
	last       string
	logged     time.Time
	onMismatch func(follow.Event)
}

func newFollowOutput(env *Env) *followOutput {
	o := &followOutput{log: env.logger()}
	_, isJSON := o.log.Handler().(*slog.JSONHandler)
	if !isJSON && isTerminal(env.Stdout) {
		o.live = progress.NewAuto(env.Stdout)
		return o
	}
	if !isJSON {
		level := slog.LevelInfo
		if o.log.Enabled(context.Background(), slog.LevelDebug) {
			level = slog.LevelDebug
		}
		o.log = slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	}
	return o
}

var digits = regexp.MustCompile(`[0-9]+`)

func (o *followOutput) emit(e follow.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch e.Kind {
	case "status":
		if o.live != nil {
			o.live.Status("follow", "%s", e.Message)
		} else if key := digits.ReplaceAllString(e.Message, "N"); key != o.last || time.Since(o.logged) > time.Minute {
			// A log line when something other than a number changed, or
			// once a minute: lag and counters change at every round.
			o.log.Info(e.Message, "event", "status")
			o.last, o.logged = key, time.Now()
		}
	case "mismatch":
		o.log.Warn("verify: mismatch", "event", "mismatch", "table", e.Table, "range", e.Range, "message", e.Message, "again", e.Again)
		// Posted when new: one still open is in every stats JSON notify
		// posts, and a post per pass would bury it.
		if o.onMismatch != nil && !e.Again {
			go o.onMismatch(e)
		}
	default:
		if o.live != nil {
			o.live.Printf("%s", e.Message)
		} else {
			o.log.Info(e.Message, "event", e.Kind)
		}
	}
}

func (o *followOutput) close() {
	if o.live != nil {
		o.live.Clear("follow")
	}
}

// syncFollow is start_sync's --follow and the follow flags that go with
// it: once the group streams, start_sync becomes follow, so one command
// (and one service unit) takes a group from nothing to the cut-over.
type syncFollow struct {
	on    bool
	o     followOpts
	flags map[string]bool // the follow flags' names, long and short
}

func (sf *syncFollow) add(f *flags) {
	f.boolVar(&sf.on, "follow", "", "once the group streams, keep running as pgvecrep follow, with follow's flags (--listen, -u, -f, --interval, --verify-*)")
	before := map[string]bool{}
	f.VisitAll(func(fl *flag.Flag) { before[fl.Name] = true })
	sf.o.add(f)
	sf.flags = map[string]bool{}
	f.VisitAll(func(fl *flag.Flag) { sf.flags[fl.Name] = !before[fl.Name] })
}

// check refuses a follow flag without --follow, before start_sync starts:
// the user meant to follow, and would find out only once the copy is done.
func (sf *syncFollow) check(f *flags) error {
	var alone []string
	f.Visit(func(fl *flag.Flag) {
		if long := "--" + f.longName(fl.Name); !sf.on && sf.flags[fl.Name] && !slices.Contains(alone, long) {
			alone = append(alone, long)
		}
	})
	if len(alone) > 0 {
		verb := "applies"
		if len(alone) > 1 {
			verb = "apply"
		}
		return hint.New(strings.Join(alone, ", ")+" only "+verb+" with --follow", "add --follow, or leave "+strings.Join(alone, ", ")+" out")
	}
	return sf.o.check()
}

// run follows the group once start_sync has it streaming; nothing without
// --follow. start_sync's session goes first: it holds the group's lock,
// which follow takes for each step of its own, and from here on an
// interrupt stops follow and undoes nothing of start_sync's.
func (sf *syncFollow) run(ctx context.Context, env *Env, f *flags, s *session, name string) error {
	if !sf.on {
		return nil
	}
	s.close()
	env.onAbandon("")
	env.onInterrupt("")
	sf.o.name = name
	fmt.Fprintf(env.Stdout, "following group %s until it is switched over or stopped (SIGTERM or Ctrl-C stops follow, not the group)\n", name)
	return followGroup(ctx, env, f, nil, sf.o)
}
