package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

func init() {
	register(&command{
		name:    "notify",
		summary: "POST the stats JSON to a URL every few seconds",
		usage:   "--group-name GROUP -u|--url URL [-f|--frequency 10] [-t|--timeout 10]",
		help: `Notify sends the group's stats, the JSON that pgvecrep stats prints, to --url
in an HTTP POST (Content-Type: application/json) every --frequency seconds,
as pg_easy_replicate's notify does. Each POST gives up after --timeout
seconds. A POST that fails (no answer, or a status that is not 2xx) is
logged on stderr and the next tick tries again; so is a stats query that
fails, and a lost connection is opened again. Ctrl-C stops it between two
POSTs, with exit code 0.

Only the URL's scheme and host appear in logs: webhook URLs often carry a
token in their path.

Example:
  pgvecrep notify --group-name database-cluster-1 --url https://hooks.example.com/pgvecrep --frequency 30`,
		run: runNotify,
	})
}

func runNotify(ctx context.Context, env *Env, args []string) error {
	var name, target string
	var every, timeout time.Duration
	f := groupFlags(env, "notify", &name)
	f.stringVar(&target, "url", "u", "", "where to POST the stats JSON (required)")
	f.secondsVar(&every, "frequency", "f", 10*time.Second, "seconds between two POSTs (or a duration such as 500ms)")
	f.secondsVar(&timeout, "timeout", "t", 10*time.Second, "seconds one POST may take")
	pre := preamble{group: &name, source: optional, sourceIfSet: true, target: required, check: func() error { return checkNotifyURL(target) }}
	conns := &reconnecting{f: f, pre: pre}
	if _, err := conns.get(ctx, args); err != nil {
		return err
	}
	defer conns.close()
	n := notifier{env: env, url: target, client: &http.Client{Timeout: timeout}, log: env.logger().With("group", name, "url", redactURL(target))}
	n.log.Info("notify started", "every", every.String())
	for {
		if s, err := conns.get(ctx, nil); err != nil {
			n.log.Warn("notify: reconnect failed; trying again at the next tick", "err", oneLine(err.Error()))
		} else {
			n.tick(ctx, s, name)
		}
		select {
		case <-ctx.Done():
			n.log.Info("notify stopped")
			return nil
		case <-time.After(every):
		}
	}
}

// notifier posts a group's stats.
type notifier struct {
	env    *Env
	url    string
	client *http.Client
	log    *slog.Logger
}

// tick collects the stats and posts them once; failures are logged, not
// returned: the next tick is the retry.
func (n notifier) tick(ctx context.Context, s *session, name string) {
	r, err := collectReport(ctx, s, name)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("notify: read stats failed; trying again at the next tick", "err", oneLine(err.Error()))
		}
		return
	}
	var body bytes.Buffer
	if err := r.WriteJSON(&body); err != nil {
		n.log.Warn("notify: encode stats", "err", err)
		return
	}
	if err := n.post(ctx, body.Bytes()); err != nil && ctx.Err() == nil {
		n.log.Warn("notify: POST failed; trying again at the next tick", "err", err.Error())
		return
	}
	n.log.Debug("notify: posted stats", "bytes", body.Len())
}

func (n notifier) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pgvecrep/"+Version)
	resp, err := n.client.Do(req)
	if err != nil {
		// The error text repeats the whole URL; keep only what it says.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Errorf("post stats: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post stats: server answered %s", resp.Status)
	}
	return nil
}

func checkNotifyURL(s string) error {
	u, err := url.Parse(s)
	if s == "" {
		return hint.New("--url is required", "e.g. pgvecrep notify -g GROUP --url https://hooks.example.com/pgvecrep")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return hint.New(fmt.Sprintf("--url wants an http:// or https:// URL, got %q", redactURL(s)),
			"e.g. --url https://hooks.example.com/pgvecrep")
	}
	return nil
}

// redactURL keeps a URL's scheme and host: its user, path and query may hold
// a token.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if i := strings.IndexAny(s, "/?@"); i >= 0 {
			return s[:i] + "…"
		}
		return s
	}
	if u.Path == "" && u.RawQuery == "" && u.User == nil {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// secondsVar is pg_easy_replicate's whole-seconds flag; a Go duration such
// as 500ms works too.
func (f *flags) secondsVar(p *time.Duration, long, short string, value time.Duration, usage string) {
	*p = value
	f.Var(&secondsValue{durationValue{p: p}}, long, usage)
	f.alias(long, short)
}

type secondsValue struct{ durationValue }

func (v *secondsValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(v.p.Seconds(), 'f', -1, 64)
}

func (v *secondsValue) Set(s string) error {
	if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		if n <= 0 {
			return wants("wants a number of seconds > 0")
		}
		*v.p = time.Duration(n * float64(time.Second))
		return nil
	}
	if err := v.durationValue.Set(s); err != nil {
		return wants("wants a number of seconds > 0")
	}
	return nil
}
