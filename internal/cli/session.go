package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// need says whether a command uses one side's connection.
type need int

const (
	skip     need = iota // not connected
	optional             // connected if it can be; session.srcErr says why not
	required             // the command fails without it
)

// preamble is what a command needs before it can do its own work. Every
// group command used to spell the same steps out: parse, connect, close,
// load the group, lock it; one place keeps their order and their errors the
// same everywhere.
type preamble struct {
	group *string // the --group-name variable; nil: no group required
	// check runs after parsing, before anything is connected: flag values
	// that do not parse fail without waiting for a server.
	check          func() error
	source, target need
	sourceHint     string // added to a required source's connection error
	// sourceIfSet leaves an optional source unconnected when no URL is
	// given (srcErr is errSourceNotConfigured), instead of trying libpq's
	// defaults, which would report a local server as "unreachable".
	sourceIfSet bool
	load        bool // read the group from the target
	lock        bool // claim the group (implies load)
	// creates marks the one command that makes a group (bootstrap); every
	// other command with a group refuses one the target does not have
	// before it does anything (see knownGroup).
	creates bool
}

// session is a command's connections and group once its preamble is done.
type session struct {
	src, tgt       *pgx.Conn
	srcErr         error // why an optional source is not connected
	srcCfg, tgtCfg *pgx.ConnConfig
	group          group.Group
}

// open runs the preamble p: it parses args (unless the command already
// parsed them), connects the sides p needs, loads and claims the group.
// A required source is connected first, an optional one last, so the group
// is claimed before anything is changed. On error nothing stays open; on
// success the caller defers close.
func (f *flags) open(ctx context.Context, args []string, p preamble) (*session, error) {
	if err := f.parseOnce(args, p.group); err != nil {
		return nil, err
	}
	if p.check != nil {
		if err := p.check(); err != nil {
			return nil, usageExit(err)
		}
	}
	if _, err := f.statementTimeout(); err != nil {
		return nil, err
	}
	f.warnArgvPasswords()
	s := &session{}
	if err := s.connect(ctx, f, p); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) connect(ctx context.Context, f *flags, p preamble) error {
	var err error
	if p.source == required {
		if s.src, s.srcCfg, err = f.dial(ctx, pg.Source); err != nil && p.sourceHint != "" {
			return hint.Wrap(err, p.sourceHint)
		} else if err != nil {
			return err
		}
	}
	if p.target != skip {
		if s.tgt, s.tgtCfg, err = f.dial(ctx, pg.Target); err != nil {
			return err
		}
		if p.group != nil && !p.creates {
			if err := knownGroup(ctx, s.tgt, f.cmd.name, *p.group); err != nil {
				return err
			}
		}
	}
	if p.load || p.lock {
		if s.group, err = group.Get(ctx, s.tgt, *p.group); err != nil {
			return err
		}
	}
	if p.lock {
		if err := group.Claim(ctx, s.tgt, *p.group); err != nil {
			return err
		}
	}
	if src, _ := f.urls(); p.source == optional && p.sourceIfSet && src == "" {
		s.srcErr = errSourceNotConfigured
	} else if p.source == optional {
		s.src, s.srcCfg, s.srcErr = f.dial(ctx, pg.Source)
	}
	return nil
}

// parseOnce parses args and requires --group-name when group is set; a
// command that had to read its flags to choose its preamble (cleanup) has
// parsed already.
func (f *flags) parseOnce(args []string, group *string) error {
	if f.Parsed() {
		if group != nil {
			return requireGroup(f.cmd, *group)
		}
		return nil
	}
	if group != nil {
		return f.parseGroup(args, group)
	}
	return f.parse(args)
}

// dial connects one side and keeps its parsed config.
func (f *flags) dial(ctx context.Context, role pg.Role) (*pgx.Conn, *pgx.ConnConfig, error) {
	src, tgt := f.urls()
	url := tgt
	if role == pg.Source {
		url = src
	}
	cfg, err := pg.ParseConfig(role, url)
	if err != nil {
		return nil, nil, err
	}
	if t, _ := f.statementTimeout(); t != "" {
		cfg.RuntimeParams["statement_timeout"] = t
	}
	if log := f.env.logger(); log.Enabled(ctx, slog.LevelDebug) {
		cfg = pg.WithTracer(cfg, role, log)
	}
	conn, err := pg.ConnectConfig(ctx, role, cfg)
	if err != nil && ctx.Err() != nil {
		// Cut short by Ctrl-C: "check SOURCE_DB_URL" would send the user
		// the wrong way; the caller reports an interrupt.
		return nil, nil, fmt.Errorf("connect to %s: %w", role, context.Cause(ctx))
	}
	return conn, cfg, err
}

// knownGroup fails, before a command does anything, for a group the target
// does not have. Only bootstrap creates groups, and a user who stops, cleans
// up or watches a group has one in mind: when the target has groups a typo
// is likelier than a missing bootstrap, so the hint names the nearest and
// lists them all, and it suggests bootstrap to start_sync alone.
func knownGroup(ctx context.Context, tgt *pgx.Conn, cmd, name string) error {
	names, err := group.List(ctx, tgt)
	if err != nil {
		return fmt.Errorf("read group %q: %w", name, err)
	}
	if slices.Contains(names, name) {
		return nil
	}
	return unknownGroupError(cmd, name, names)
}

// unknownGroupError is the error for group name, given the groups the
// target has.
func unknownGroupError(cmd, name string, names []string) error {
	err := fmt.Errorf("group %q: %w on the target", name, group.ErrNotFound)
	create := "pgvecrep bootstrap -g " + shellQuote(name) + " creates it"
	if len(names) == 0 {
		if cmd == "start_sync" {
			return hint.Wrap(err, "the target has no pgvecrep group yet; "+create+", then run start_sync again")
		}
		return hint.Wrap(err, "no group has been bootstrapped on this target: check TARGET_DB_URL (or --target-url)")
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = shellQuote(n)
	}
	h := "groups on the target: " + strings.Join(quoted, ", ")
	if c := closest(name, names); c != "" {
		h = fmt.Sprintf("did you mean -g %s? (%s)", shellQuote(c), h)
	} else if cmd == "start_sync" {
		h += "; for a new group, " + create
	}
	return hint.Wrap(err, h)
}

// explainPassword replaces the hint of a rejected login for which no
// password was given at all, in the URL, PGPASSWORD or a passfile: "the
// password was rejected" is not true then, and fixing it means adding one.
func (f *flags) explainPassword(err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "SQLSTATE 28P01") {
		return err
	}
	role := pg.Target
	if strings.HasPrefix(msg, "connect to source") {
		role = pg.Source
	}
	src, tgt := f.urls()
	url := tgt
	if role == pg.Source {
		url = src
	}
	cfg, perr := pg.ParseConfig(role, url)
	if perr != nil || cfg.Password != "" {
		return err
	}
	return hint.Wrap(err, fmt.Sprintf("no password was given for user %q and the server asks for one: add it to %s (postgres://%s:PASSWORD@host/db), or set PGPASSWORD or ~/.pgpass",
		cfg.User, role.EnvVar(), cfg.User))
}

// close closes whatever open connected. Closing takes a fresh context: the
// command's may be cancelled already, and a connection closed with a
// cancelled context is dropped without telling the server.
func (s *session) close() {
	for _, c := range []*pgx.Conn{s.src, s.tgt} {
		if c != nil {
			c.Close(context.Background())
		}
	}
}

// errSourceNotConfigured is why an optional source is not connected when no
// URL names it.
var errSourceNotConfigured = errors.New("source not configured")

// usageExit gives a flag check's error exit code 2, a usage error's.
func usageExit(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 2, err: err}
}

// longRunning commands run statements that take as long as the data is big
// (COPY, CREATE INDEX, VACUUM, checksums): PG_EASY_REPLICATE_STATEMENT_TIMEOUT,
// meant for short metadata queries, would cut them off.
var longRunning = map[string]bool{"start_sync": true, "switchover": true, "verify": true, "bootstrap": true, "demo": true}

var timeoutPattern = regexp.MustCompile(`^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$`)

// statementTimeout is PG_EASY_REPLICATE_STATEMENT_TIMEOUT in PostgreSQL's
// spelling ("5s", "5000"), for the commands it applies to; "" when unset or
// when the command is long-running. A malformed value is a usage error.
func (f *flags) statementTimeout() (string, error) {
	v := strings.TrimSpace(f.env.Getenv("PG_EASY_REPLICATE_STATEMENT_TIMEOUT"))
	if v == "" || longRunning[f.cmd.name] {
		return "", nil
	}
	if !timeoutPattern.MatchString(v) {
		return "", &exitError{code: 2, err: hint.New(
			fmt.Sprintf("PG_EASY_REPLICATE_STATEMENT_TIMEOUT wants a duration such as 5s or 5000 (ms), got %q", v),
			"set it as PostgreSQL's statement_timeout is set, or unset it")}
	}
	return v, nil
}

// warnArgvPasswords warns, on one line per flag, when --source-url or
// --target-url holds a password: the process list shows every argument to
// every user of the machine for as long as pgvecrep runs. The warning names
// the flag and the safer places, never the password.
func (f *flags) warnArgvPasswords() {
	for _, side := range []struct {
		flag, env, url string
	}{{"--source-url", "SOURCE_DB_URL", f.sourceURL}, {"--target-url", "TARGET_DB_URL", f.targetURL}} {
		if pg.HasPassword(side.url) {
			fmt.Fprintf(f.env.Stderr, "pgvecrep: warning: %s holds a password, which any user of this machine can read in the process list; "+
				"set %s in the environment, or keep the password in ~/.pgpass or the file PGPASSFILE names\n", side.flag, side.env)
		}
	}
}
