package replication

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Prefix starts the name of every subscription, slot and publication
// pgvecrep creates (group.ObjectName), which is how cleanup --everything
// finds them without the metadata.
const Prefix = "pgvecrep_"

// The catalog queries Names reads, each listing one kind of object of the
// connected database.
const (
	subscriptionNamesQuery = `SELECT subname::text FROM pg_subscription
WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`
	slotNamesQuery        = `SELECT slot_name::text FROM pg_replication_slots WHERE database = current_database()`
	publicationNamesQuery = `SELECT pubname::text FROM pg_publication`
)

// Names lists every subscription on the target and every slot and
// publication on the source whose name has the pgvecrep prefix, each name
// once: Detach takes all three down by one name.
func Names(ctx context.Context, src, tgt *pgx.Conn) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, q := range []struct {
		conn  *pgx.Conn
		query string
	}{{tgt, subscriptionNamesQuery}, {src, slotNamesQuery}, {src, publicationNamesQuery}} {
		rows, err := q.conn.Query(ctx, q.query)
		if err != nil {
			return nil, fmt.Errorf("list pgvecrep objects: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("list pgvecrep objects: %w", err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, Prefix) && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}
