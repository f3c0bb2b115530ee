package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
)

// neighbour is one row of the tutorial query's answer.
type neighbour struct {
	ID   int32
	Dist float64
}

// query runs the tutorial's nearest-neighbour query on one cluster.
func query(ctx context.Context, c *localpg.Cluster) ([]neighbour, error) {
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id, embedding <-> $1::vector FROM test ORDER BY embedding <-> $1::vector LIMIT 10", queryVector)
	if err != nil {
		return nil, fmt.Errorf("nearest-neighbour query: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[neighbour])
}

func count(ctx context.Context, c *localpg.Cluster) (int64, error) {
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM test").Scan(&n)
	return n, err
}

func exec(ctx context.Context, c *localpg.Cluster, sql string) error {
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// insertRows adds rows with ten random values each (the tutorial's arrays
// have nine, which vector(10) rejects), seeded so every run shows the same
// data.
func insertRows(ctx context.Context, c *localpg.Cluster, from, to int) error {
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT setseed($1)", float64(from)/1000); err != nil {
		return err
	}
	// The subquery refers to i so that each row gets its own random values.
	_, err = conn.Exec(ctx, `INSERT INTO test
		SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 10) WHERE i > 0)::real[]::vector
		FROM generate_series($1::int, $2::int) i`, from, to)
	if err != nil {
		return fmt.Errorf("insert rows: %w", err)
	}
	return nil
}

// printSideBySide prints two answers in one table and reports whether they
// rank the same ids.
func printSideBySide(w io.Writer, a, b []neighbour) bool {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rank\tsource id\tdistance\t\ttarget id\tdistance\t")
	same := len(a) == len(b)
	for i := 0; i < max(len(a), len(b)); i++ {
		cols := []string{fmt.Sprint(i + 1), "", "", "", "", ""}
		if i < len(a) {
			cols[1], cols[2] = fmt.Sprint(a[i].ID), fmt.Sprintf("%.4f", a[i].Dist)
		}
		if i < len(b) {
			cols[4], cols[5] = fmt.Sprint(b[i].ID), fmt.Sprintf("%.4f", b[i].Dist)
		}
		if i >= len(a) || i >= len(b) || a[i].ID != b[i].ID {
			same = false
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	tw.Flush()
	if len(a) == 0 && len(b) == 0 {
		fmt.Fprintln(w, "(0 rows on both sides)")
	}
	return same
}
