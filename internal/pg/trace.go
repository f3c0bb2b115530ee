package pg

import (
	"context"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tracer logs every statement a connection runs, for --verbose: what
// pgvecrep did to a server is the first question after anything goes wrong.
// Statements are logged after they end, with their duration and result, and
// with secrets removed (see RedactSQL); argument values are never logged,
// only their number, because a parameter may be anything a table holds.
//
// Set it on a config before connecting (WithTracer); connections that other
// packages open from a copy of that config trace too.
type Tracer struct {
	Log  *slog.Logger
	Role Role
}

// WithTracer returns a copy of cfg whose connections log their statements to
// log at debug level.
func WithTracer(cfg *pgx.ConnConfig, role Role, log *slog.Logger) *pgx.ConnConfig {
	c := cfg.Copy()
	c.Tracer = &Tracer{Log: log, Role: role}
	return c
}

type traceKey struct{}

type traceStart struct {
	sql   string
	nargs int
	at    time.Time
}

// TraceQueryStart implements pgx.QueryTracer.
func (t *Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{sql: d.SQL, nargs: len(d.Args), at: time.Now()})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *Tracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, d pgx.TraceQueryEndData) {
	s, _ := ctx.Value(traceKey{}).(traceStart)
	attrs := []slog.Attr{
		slog.String("side", string(t.Role)),
		slog.Uint64("pid", uint64(conn.PgConn().PID())),
		slog.String("sql", RedactSQL(s.sql)),
		slog.Int("args", s.nargs),
		slog.Duration("duration", time.Since(s.at)),
	}
	if d.Err != nil {
		attrs = append(attrs, slog.String("error", RedactSQL(d.Err.Error())))
	} else {
		attrs = append(attrs, slog.String("result", d.CommandTag.String()))
	}
	t.Log.LogAttrs(context.Background(), slog.LevelDebug, "sql", attrs...)
}

// TraceConnectStart implements pgx.ConnectTracer: it logs where a
// connection goes, never its password.
func (t *Tracer) TraceConnectStart(ctx context.Context, d pgx.TraceConnectStartData) context.Context {
	c := d.ConnConfig
	t.Log.LogAttrs(ctx, slog.LevelDebug, "connect", slog.String("side", string(t.Role)),
		slog.String("host", c.Host), slog.Int("port", int(c.Port)),
		slog.String("database", c.Database), slog.String("user", c.User))
	return ctx
}

// TraceConnectEnd implements pgx.ConnectTracer.
func (t *Tracer) TraceConnectEnd(ctx context.Context, d pgx.TraceConnectEndData) {
	if d.Err != nil {
		t.Log.LogAttrs(ctx, slog.LevelDebug, "connect failed", slog.String("side", string(t.Role)),
			slog.String("error", RedactSQL(d.Err.Error())))
	}
}

var (
	// password=secret in a keyword/value connection string, the value bare,
	// quoted, or quoted inside a SQL literal (where its quotes are doubled).
	conninfoPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)(''(?:\\\\|\\''|[^'\\])*''|'(?:\\.|[^'\\])*'|[^\s']+)`)
	// postgres://user:secret@host, any scheme; the password runs to the
	// last '@', since an unencoded one may hold '@' itself.
	urlPassword = regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s']*:)[^\s']*@`)
	// CREATE/ALTER ROLE ... PASSWORD 'secret'.
	rolePassword = regexp.MustCompile(`(?i)(\bpassword\s+)'(?:[^']|'')*'`)
)

// RedactSQL removes passwords from a statement or message before it is
// logged: those in connection strings (CREATE SUBSCRIPTION ... CONNECTION,
// keyword/value or URL) and role passwords.
func RedactSQL(s string) string {
	s = conninfoPassword.ReplaceAllString(s, "${1}xxxxx")
	s = urlPassword.ReplaceAllString(s, "${1}xxxxx@")
	return rolePassword.ReplaceAllString(s, "${1}'xxxxx'")
}
