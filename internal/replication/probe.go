package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// probeTimeout bounds how long the target's server may try to reach the
// source: an address that drops packets would otherwise hang the probe for
// as long as the network stack retries.
const probeTimeout = "30s"

// Probe checks, before any data moves, that the target's own server can reach
// the source at connInfo, the address the subscription will use. Checking
// from pgvecrep's host would prove nothing: the target may sit in another
// network, and a wrong SECONDARY_SOURCE_DB_URL would surface only at CREATE
// SUBSCRIPTION, after hours of copying.
//
// The probe is a CREATE SUBSCRIPTION that connects but makes no slot
// (connect = true, create_slot = false, slot_name = NONE, enabled = false),
// in a transaction that is rolled back: the server logs in to the source as
// the subscription would, and nothing is left on either side, even if
// pgvecrep dies halfway. It also proves the target role may create
// subscriptions. Statement logging is off as for CreateSubscription.
func Probe(ctx context.Context, tgt *pgx.Conn, connInfo string) error {
	name, err := probeName()
	if err != nil {
		return err
	}
	tx, err := quietTx(ctx, tgt)
	if err != nil {
		return fmt.Errorf("check that the target reaches the source: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '"+probeTimeout+"'"); err != nil {
		return fmt.Errorf("check that the target reaches the source: %w", err)
	}
	id := pgx.Identifier{name}.Sanitize()
	sql := fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s WITH (connect = true, enabled = false, create_slot = false, slot_name = NONE, copy_data = false)",
		id, pg.Literal(connInfo), id)
	if _, err := tx.Exec(ctx, sql); err != nil {
		return probeError(connInfo, err)
	}
	return nil
}

// probeName is a subscription name no other run uses at the same time.
func probeName() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("name the probe subscription: %w", err)
	}
	return "pgvecrep_probe_" + hex.EncodeToString(b), nil
}

// probeError names the address the target's server tried, never the
// password, and says what to change.
func probeError(connInfo string, err error) error {
	where := "the subscription's address"
	if cfg, perr := pgx.ParseConfig(connInfo); perr == nil {
		where = fmt.Sprintf("%s:%d (database %q, user %q)", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	}
	text := err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		text = pgErr.Message
	}
	// libpq's messages span lines; an error is one line.
	msg := strings.Join(strings.Fields(redact(text, connInfo)), " ")
	e := fmt.Errorf("the target's server cannot reach the source at %s: %s", where, msg)
	switch pg.Code(err) {
	case "42501":
		return hint.Wrap(fmt.Errorf("create a subscription on the target: %s", msg),
			"the target user may not create subscriptions: connect to the target as a superuser (PostgreSQL 15), or GRANT pg_create_subscription TO the user (16+)")
	case "57014":
		return hint.Wrap(e, "the connection timed out after "+probeTimeout+": check the host, port and firewall between the target and the source")
	}
	if strings.Contains(msg, "no password supplied") || strings.Contains(msg, "password authentication failed") {
		return hint.Wrap(e, "the source wants a password from the target's server, which reads neither your environment nor your ~/.pgpass: "+
			"put it in SECONDARY_SOURCE_DB_URL, or add passfile=/path/on/the/target/host to that URL, a file the target server's OS user can read, mode 0600 (README, Security)")
	}
	return hint.Wrap(e, "the target's server connects to the source itself, at SECONDARY_SOURCE_DB_URL when set, else SOURCE_DB_URL; "+
		"check that address from the target's host, or set SECONDARY_SOURCE_DB_URL to one the target can reach")
}
