package replication

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// ServerMajor is the major version of the server conn is connected to.
func ServerMajor(conn *pgx.Conn) int { return serverMajor(conn.PgConn()) }

// serverMajor is the major version of the server conn talks to, from the
// server_version it reported at login (no round trip): 15 from "15.4
// (Debian 15.4-1)", 18 from "18.6". 0 when it cannot be read.
func serverMajor(conn *pgconn.PgConn) int {
	v := conn.ParameterStatus("server_version")
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		v = v[:end]
	}
	n, _ := strconv.Atoi(v)
	return n
}

// subscriptionOptions is the WITH list of CREATE SUBSCRIPTION for s on a
// target of major version target, and one line for each feature of a newer
// target it uses, for the user to read.
//
// binary = true (PostgreSQL 16+ targets, native copy only): the engine's
// table sync then copies in binary, which is what the fast path does with
// its own COPY, and changes stream in binary too. A source older than 16
// still serves the initial copy in text; the option is harmless there. It is
// left off when the caller knows a type's binary form differs between the
// two sides (TextOnly), and in the fast path, whose copy does not use it.
//
// run_as_owner stays false, the 16+ default: the apply worker switches to
// each table's owner, so a trigger or default on a target table never runs
// with the rights of the subscription owner, who may be a superuser. A
// bootstrap --copy-schema makes the target user own the tables, so the
// switch costs no extra privilege; a subscription owner that is neither a
// superuser nor the tables' owner needs SET ROLE on their owners.
//
// failover = true (17+ targets, when the caller created a failover slot on a
// 17+ source) records on the subscription that its slot is synchronized to
// the source's standbys; the slot itself was made that way by CreateSlot.
func subscriptionOptions(s Subscription, target int) (string, []string) {
	opts := []string{fmt.Sprintf("copy_data = %t", s.CopyData), "create_slot = false", "slot_name = " + pg.Literal(s.Slot)}
	var notes []string
	if s.Disabled {
		opts = append(opts, "enabled = false")
	}
	if target >= 16 && s.CopyData && !s.TextOnly {
		opts = append(opts, "binary = true")
		notes = append(notes, fmt.Sprintf("PostgreSQL %d target: binary = true, the initial copy (from a 16+ source) and the changes travel in binary", target))
	}
	if target >= 16 {
		notes = append(notes, fmt.Sprintf("PostgreSQL %d target: run_as_owner = false, changes are applied with each table owner's rights", target))
	}
	if target >= 17 && s.Failover {
		opts = append(opts, "failover = true")
		notes = append(notes, fmt.Sprintf("PostgreSQL %d target: failover = true, the slot follows a failover of the source to its standby", target))
	}
	return strings.Join(opts, ", "), notes
}
