package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// stream is an apply scenario's two ends while it runs: the source's slots
// and the target's subscriptions.
type stream struct {
	b        *bench
	src, tgt *pgx.Conn
	slots    []string
	// errs0 is the subscriptions' error count when the stream was opened,
	// log0 the size of the target's server log then.
	errs0 int64
	log0  int64
	// Errors are the apply errors the target logged while the stream ran:
	// an apply worker that fails is restarted by the engine and starts its
	// transaction again, which the timings include.
	Errors []string
}

// openStream connects to both ends of a stream whose slots are slots.
func (b *bench) openStream(ctx context.Context, srcDB, tgtDB string, slots []string) (*stream, error) {
	s := &stream{b: b, slots: slots}
	var err error
	if s.src, err = b.c.src.Connect(ctx, srcDB); err != nil {
		return nil, err
	}
	if s.tgt, err = b.c.tgt.Connect(ctx, tgtDB); err != nil {
		s.src.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if s.errs0, err = s.errors(ctx); err != nil {
		s.close(ctx)
		return nil, err
	}
	if fi, err := os.Stat(filepath.Join(b.c.tgt.Dir, "server.log")); err == nil {
		s.log0 = fi.Size()
	}
	return s, nil
}

// logErrors is the ERROR lines the target's server log gained since the
// stream was opened (at most 5).
func (s *stream) logErrors() []string {
	f, err := os.Open(filepath.Join(s.b.c.tgt.Dir, "server.log"))
	if err != nil {
		return []string{fmt.Sprintf("(server log unreadable: %v)", err)}
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	var out []string
	sc := bufio.NewScanner(io.NewSectionReader(f, s.log0, 1<<40))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && len(out) < 5 {
		if strings.Contains(sc.Text(), "ERROR:") {
			out = append(out, strings.TrimSpace(sc.Text()))
		}
	}
	return out
}

func (s *stream) close(ctx context.Context) {
	s.src.Close(context.WithoutCancel(ctx))
	s.tgt.Close(context.WithoutCancel(ctx))
}

// errors is the apply and table-sync error count of the target database's
// subscriptions.
func (s *stream) errors(ctx context.Context) (int64, error) {
	const q = `SELECT coalesce(sum(st.apply_error_count + st.sync_error_count), 0)::bigint
		FROM pg_stat_subscription_stats st JOIN pg_subscription s ON s.oid = st.subid
		WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`
	var n int64
	if err := s.tgt.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the subscriptions' error counts: %w", err)
	}
	return n, nil
}

// settle waits, untimed, until every enabled subscription of the target
// database has its apply worker and every slot has confirmed the source's
// current position: the writes start on an idle, attached stream.
func (s *stream) settle(ctx context.Context) error {
	const missing = `SELECT count(*) FROM pg_subscription s
		WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.subenabled
		  AND NOT EXISTS (SELECT 1 FROM pg_stat_subscription w WHERE w.subid = s.oid AND w.relid IS NULL AND w.pid IS NOT NULL)`
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		var n int64
		err := s.tgt.QueryRow(ctx, missing).Scan(&n)
		return n == 0, err
	})
	if err != nil {
		return fmt.Errorf("wait for the apply workers: %w", err)
	}
	lsn, err := currentLSN(ctx, s.src)
	if err != nil {
		return err
	}
	_, err = s.caughtUp(ctx, lsn, "")
	return err
}

// currentLSN is the end of the source's WAL, where the walsender will get
// to: the insert position, not pg_current_wal_lsn, the write position,
// which with synchronous_commit off (these clusters) can stop short of a
// commit the client has already seen (replication.WALEnd says more). The
// first run of this bench waited for pg_current_wal_lsn() and its slots
// read caught up at once while the target applied the UPDATE for minutes.
func currentLSN(ctx context.Context, src *pgx.Conn) (string, error) {
	return replication.WALEnd(ctx, src)
}

// slotsBehind is how many of the slots have not confirmed $1, how many
// exist, and the WAL bytes the slowest one has not confirmed.
const slotsBehind = `SELECT count(*) FILTER (WHERE confirmed_flush_lsn IS NULL OR confirmed_flush_lsn < $1::pg_lsn), count(*),
	greatest(coalesce(max(pg_wal_lsn_diff($1::pg_lsn, confirmed_flush_lsn)), 0), 0)::bigint
	FROM pg_replication_slots WHERE slot_name = ANY($2)`

// appliedBefore counts the target database's enabled subscriptions whose
// replication origin has not applied a source transaction that committed
// at or after $1.
const appliedBefore = `SELECT count(*) FROM pg_subscription s
	LEFT JOIN pg_replication_origin_status o ON o.external_id = 'pg_' || s.oid
	WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.subenabled
	  AND (o.remote_lsn IS NULL OR o.remote_lsn < $1::pg_lsn)`

// caughtUp polls until every slot has confirmed lsn (the source's WAL end,
// replication.WALEnd) and, when commit is set, every subscription's origin
// on the target has applied a transaction that committed after commit (a
// position inside the last write transaction, before its commit record):
// two independent readings of "applied", the source's and the target's. A
// subscription's error does not stop it (the engine restarts the worker;
// its log lines are kept in Errors); a wait over drainLimit does. It
// returns when the slots alone first said caught up, so that a
// disagreement between the two shows in the results.
// While it waits it says how much is left every 30 s.
func (s *stream) caughtUp(ctx context.Context, lsn, commit string) (time.Time, error) {
	start, last := time.Now(), time.Now()
	var slotsAt time.Time
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		var behind, found, bytes, pending int64
		if err := s.src.QueryRow(ctx, slotsBehind, lsn, s.slots).Scan(&behind, &found, &bytes); err != nil {
			return false, fmt.Errorf("read the slots' positions: %w", err)
		}
		if found != int64(len(s.slots)) {
			return false, fmt.Errorf("%d of the slots %v are gone from the source", int64(len(s.slots))-found, s.slots)
		}
		if behind == 0 && slotsAt.IsZero() {
			slotsAt = time.Now()
		}
		if behind == 0 && commit != "" {
			if err := s.tgt.QueryRow(ctx, appliedBefore, commit).Scan(&pending); err != nil {
				return false, fmt.Errorf("read the subscriptions' origins: %w", err)
			}
		}
		if behind == 0 && pending == 0 {
			return true, nil
		}
		if time.Since(start) > drainLimit {
			return false, fmt.Errorf("the target has not applied the writes after %s (%s of WAL not confirmed, %d stream(s) applying); its log's errors: %s",
				drainLimit, mib(bytes), pending, strings.Join(s.logErrors(), "; "))
		}
		if time.Since(last) > 30*time.Second {
			last = time.Now()
			fmt.Fprintf(s.b.out, "      waiting for the target: %s of WAL not confirmed, %d stream(s) still applying the last transaction\n", mib(bytes), pending)
		}
		return false, nil
	})
	if n, nerr := s.errors(ctx); nerr == nil && n > s.errs0 && len(s.Errors) == 0 {
		s.Errors = s.logErrors()
		fmt.Fprintf(s.b.out, "      the target's apply workers failed %d time(s) and were restarted: %s\n", n-s.errs0, strings.Join(s.Errors, "; "))
	}
	return slotsAt, err
}

// drainLimit is how long caughtUp waits before it gives up.
const drainLimit = 20 * time.Minute

// lag is the WAL bytes the slowest slot has not confirmed.
func (s *stream) lag(ctx context.Context) (int64, error) {
	lsn, err := currentLSN(ctx, s.src)
	if err != nil {
		return 0, err
	}
	var behind, found, bytes int64
	err = s.src.QueryRow(ctx, slotsBehind, lsn, s.slots).Scan(&behind, &found, &bytes)
	return bytes, err
}

// poll calls done every interval until it reports true or fails.
func poll(ctx context.Context, interval time.Duration, done func() (bool, error)) error {
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// measure runs the writes and reads what the target did: its rows at the
// start and the end of the load, the backlog then, and the drain after
// the UPDATE.
func (s *stream) measure(ctx context.Context, b *bench, srcDB string, res *applyResult) error {
	var tgt0 int64
	if err := s.tgt.QueryRow(ctx, countItems).Scan(&tgt0); err != nil {
		return fmt.Errorf("count the target's rows: %w", err)
	}
	w, err := b.writes(ctx, s.src, srcDB, func(load float64, srcRows int64) error {
		var tgt1 int64
		if err := s.tgt.QueryRow(ctx, countItems).Scan(&tgt1); err != nil {
			return fmt.Errorf("count the target's rows: %w", err)
		}
		res.ApplyRate = float64(tgt1-tgt0) / load
		res.BacklogRows = srcRows - tgt1
		var err error
		res.BacklogBytes, err = s.lag(ctx)
		return err
	})
	res.writeOut = w
	if err != nil {
		return err
	}
	slotsAt, err := s.caughtUp(ctx, w.lsn, w.commit)
	res.ApplyErrors = s.Errors
	if err != nil {
		return err
	}
	res.Drain = secs(time.Since(w.end))
	res.SlotsEarly = secs(time.Since(slotsAt))
	res.DrainRate = float64(res.BacklogRows+w.Updated) / res.Drain
	return nil
}

const countItems = "SELECT count(*) FROM items"

// writeOut is what the writes did on the source.
type writeOut struct {
	TPS      float64 `json:"source_tps"` // pgbench's, without the connection time
	Load     float64 `json:"load_wall_s"`
	Inserted int64   `json:"inserted_rows"`
	Updated  int64   `json:"updated_rows"`
	Update   float64 `json:"update_s"` // the UPDATE's own time on the source
	// end is when the UPDATE committed, lsn the source's WAL position then,
	// commit a position inside the UPDATE's transaction, before its commit
	// record.
	end    time.Time
	lsn    string
	commit string
}

// bulkUpdate re-embeds every row in one statement.
const bulkUpdate = "UPDATE items SET embedding = bench_random_vector(128)"

// writes runs the load (pgbench) and then the bulk UPDATE on srcDB, and
// calls afterLoad in between with the load's seconds and the source's row
// count then.
func (b *bench) writes(ctx context.Context, src *pgx.Conn, srcDB string, afterLoad func(load float64, srcRows int64) error) (writeOut, error) {
	var w writeOut
	var rows0, rows1 int64
	if err := src.QueryRow(ctx, countItems).Scan(&rows0); err != nil {
		return w, fmt.Errorf("count the source's rows: %w", err)
	}
	start := time.Now()
	tps, err := b.pgbench(ctx, srcDB)
	w.Load, w.TPS = secs(time.Since(start)), tps
	if err != nil {
		return w, err
	}
	if err := src.QueryRow(ctx, countItems).Scan(&rows1); err != nil {
		return w, fmt.Errorf("count the source's rows: %w", err)
	}
	w.Inserted = rows1 - rows0
	if err := afterLoad(w.Load, rows1); err != nil {
		return w, err
	}
	start = time.Now()
	if err := pgx.BeginFunc(ctx, src, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, bulkUpdate)
		w.Updated = tag.RowsAffected()
		if err == nil {
			err = tx.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&w.commit)
		}
		return err
	}); err != nil {
		return w, fmt.Errorf("bulk update on the source: %w", err)
	}
	w.end = time.Now()
	w.Update = secs(w.end.Sub(start))
	w.lsn, err = currentLSN(ctx, src)
	return w, err
}

// loadScript is one pgbench transaction: a row with a new key and a new
// random vector.
const loadScript = "INSERT INTO items (embedding, note) VALUES (bench_random_vector(128), 'x');\n"

// pgbench runs the insert load on db for -apply-load with applyClients
// clients on two threads, and returns the tps it reports.
func (b *bench) pgbench(ctx context.Context, db string) (float64, error) {
	dir, err := os.MkdirTemp("", "pgvecrep-bench-pgbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "insert.sql")
	if err := os.WriteFile(script, []byte(loadScript), 0o644); err != nil {
		return 0, err
	}
	dur := max(int(b.applyLoad().Round(time.Second).Seconds()), 1)
	cmd := exec.CommandContext(ctx, b.c.src.Bin("pgbench"), "-n", "-c", strconv.Itoa(applyClients), "-j", "2",
		"-T", strconv.Itoa(dur), "-f", script, b.c.src.URL(db))
	cmd.Env = environ("PGOPTIONS", "PGDATABASE", "PGHOST", "PGPORT", "PGUSER")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w; its output ends with:\n%s", err, lastLines(string(out), 15))
	}
	return pgbenchTPS(string(out))
}

var tpsRE = regexp.MustCompile(`(?m)^tps = ([0-9]+(?:\.[0-9]+)?)`)

// pgbenchTPS reads the first "tps = N" line of pgbench's report (the one
// without the connection time; older versions print two).
func pgbenchTPS(out string) (float64, error) {
	m := tpsRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps line in pgbench's output:\n%s", lastLines(out, 15))
	}
	return strconv.ParseFloat(m[1], 64)
}

// rowsDigest is a table's row count and a sum of its rows' hashes (key,
// vector and note), equal on both sides only when the rows are.
const rowsDigest = `SELECT count(*), coalesce(sum(hashtextextended(id::text || ' ' || embedding::text || ' ' || coalesce(note, ''), 0)), 0)::text,
	(SELECT count(*) FROM pg_index WHERE indrelid = 'items'::regclass AND indisvalid AND indisready) FROM items`

// same checks that the target holds exactly the source's rows and as many
// valid indexes; a mismatch is the scenario's failure, said loudly.
func (s *stream) same(ctx context.Context) error {
	return sameItems(ctx, s.src, s.tgt)
}

func sameItems(ctx context.Context, src, tgt *pgx.Conn) error {
	var sn, tn, si, ti int64
	var sh, th string
	if err := src.QueryRow(ctx, rowsDigest).Scan(&sn, &sh, &si); err != nil {
		return fmt.Errorf("digest the source's rows: %w", err)
	}
	if err := tgt.QueryRow(ctx, rowsDigest).Scan(&tn, &th, &ti); err != nil {
		return fmt.Errorf("digest the target's rows: %w", err)
	}
	if sn != tn || sh != th || si != ti {
		return fmt.Errorf("DATA MISMATCH: the source has %d rows (hash sum %s, %d valid indexes), the target %d rows (hash sum %s, %d valid indexes)",
			sn, sh, si, tn, th, ti)
	}
	return nil
}
