package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

var applyHeader = []string{"scenario", "streams", "source tps", "apply rows/s in load", "backlog rows at load end",
	"update s (source)", "drain s", "drain rows/s", "drain rate / (a)"}

// engineRate is scenario (a)'s drain rate, 0 when it has none.
func (r *applyReport) engineRate() float64 {
	for _, res := range r.Results {
		if res.Scenario == "engine" && res.ok() {
			return res.DrainRate
		}
	}
	return 0
}

// applyCells is one result's table cells.
func applyCells(res applyResult, engine float64) []string {
	if res.Error != "" {
		return []string{res.Label, "failed: " + firstLine(res.Error)}
	}
	return []string{res.Label, strconv.Itoa(res.Streams), f1(res.TPS), f1(res.ApplyRate), strconv.FormatInt(res.BacklogRows, 10),
		f1(res.Update), f1(res.Drain), f1(res.DrainRate), ratio(res.DrainRate, engine)}
}

// printApply prints the apply scenarios as an aligned text table.
func printApply(w io.Writer, rep *applyReport) {
	fmt.Fprintf(w, "\napply: %s x %d-d rows, %s; %.0f s of pgbench (%d clients, one insert a transaction), then one UPDATE of every row\n",
		count(rep.Rows), rep.Dim, rep.Index, rep.LoadSeconds, rep.Clients)
	line := func(cells []string) {
		fmt.Fprintf(w, "  %-36s", cells[0])
		if len(cells) == 2 {
			fmt.Fprintf(w, " %s\n", cells[1])
			return
		}
		for _, c := range cells[1:] {
			fmt.Fprintf(w, " %10s", c)
		}
		fmt.Fprintln(w)
	}
	line([]string{"", "streams", "source", "apply", "backlog", "update s", "drain", "drain", "drain /"})
	line([]string{"scenario", "", "tps", "rows/s", "rows", "(source)", "s", "rows/s", "(a)"})
	engine := rep.engineRate()
	for _, res := range rep.Results {
		line(applyCells(res, engine))
		if res.Note != "" {
			fmt.Fprintf(w, "      note: %s\n", res.Note)
		}
		if res.SlotsEarly >= 0.5 {
			fmt.Fprintf(w, "      the slots had confirmed the source's WAL end %.1f s before the target's origins showed the UPDATE applied\n", res.SlotsEarly)
		}
		for _, e := range res.ApplyErrors {
			fmt.Fprintf(w, "      apply worker error (restarted): %s\n", e)
		}
	}
}

// printCatchup prints the catch-up comparison.
func printCatchup(w io.Writer, c catchupResult) {
	fmt.Fprintf(w, "\nvector-aware catch-up, engine objects only, one backlog (%d inserted + %d updated rows, %s of WAL):\n",
		c.Inserted, c.Updated, mib(c.BacklogBytes))
	for _, e := range c.ApplyErrors {
		fmt.Fprintf(w, "  apply worker error (restarted): %s\n", e)
	}
	if c.Error != "" {
		fmt.Fprintf(w, "  failed: %s\n", firstLine(c.Error))
		return
	}
	fmt.Fprintf(w, "  (i)  apply into the table with its HNSW index:                  %7.1f s\n", c.Indexed)
	fmt.Fprintf(w, "  (ii) drop the index, apply, CREATE INDEX CONCURRENTLY: %5.1f + %5.1f = %5.1f s (%s faster)\n",
		c.Deferred, c.Build, c.deferredTotal(), ratio(c.Indexed, c.deferredTotal()))
}

// markdownApply writes the apply benchmark's section of the results file.
func markdownApply(w io.Writer, rep *applyReport) {
	if rep == nil {
		return
	}
	fmt.Fprintf(w, "\n## Apply: streaming a write load and a bulk re-embedding\n\n"+
		"Source: `items (id bigint identity primary key, embedding vector(%d), note text)`, %s rows, %s, on both sides. "+
		"Writes, the same in every scenario: %.0f s of `pgbench -n -c %d -j 2 -T %.0f` inserting one row with a random vector "+
		"per transaction, then `%s` in one statement.\n\n",
		rep.Dim, count(rep.Rows), rep.Index, rep.LoadSeconds, rep.Clients, rep.LoadSeconds, bulkUpdate)
	if rep.Error != "" {
		fmt.Fprintf(w, "**The apply benchmark could not be run to the end:** %s\n\n", firstLine(rep.Error))
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(applyHeader, " | "), strings.Repeat("---|", len(applyHeader)))
	engine := rep.engineRate()
	for _, res := range rep.Results {
		cells := applyCells(res, engine)
		if len(cells) == 2 {
			cells = append(cells, make([]string, len(applyHeader)-2)...)
			cells[1] = strings.ReplaceAll(cells[1], "|", `\|`)
		}
		if res.Note != "" {
			cells[0] += " (" + res.Note + ")"
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	var early []string
	for _, res := range rep.Results {
		if res.SlotsEarly >= 0.5 {
			early = append(early, fmt.Sprintf("%s %.1f s", res.Label, res.SlotsEarly))
		}
		for _, e := range res.ApplyErrors {
			fmt.Fprintf(w, "\n%s: an apply worker failed and was restarted: `%s`\n", res.Label, e)
		}
	}
	if len(early) > 0 {
		fmt.Fprintf(w, "\nThe slots had confirmed the source's WAL end before the target's origins showed the UPDATE applied (by the time below): %s. "+
			"The drain is timed to both.\n", strings.Join(early, ", "))
	}
	if c := rep.Catchup; c != nil {
		fmt.Fprintf(w, "\n### Vector-aware catch-up\n\nOne backlog (%d inserted + %d updated rows, %s of WAL, the writes above "+
			"made while both subscriptions were disabled), applied by the engine's one worker, engine objects only:\n\n", c.Inserted, c.Updated, mib(c.BacklogBytes))
		for _, e := range c.ApplyErrors {
			fmt.Fprintf(w, "An apply worker failed and was restarted: `%s`\n\n", e)
		}
		if c.Error != "" {
			fmt.Fprintf(w, "**Failed:** %s\n", strings.ReplaceAll(firstLine(c.Error), "|", `\|`))
		} else {
			fmt.Fprintf(w, "| way | apply s | index build s | total s |\n|---|---|---|---|\n")
			fmt.Fprintf(w, "| (i) into the table with its HNSW index | %.1f | (in apply) | %.1f |\n", c.Indexed, c.Indexed)
			fmt.Fprintf(w, "| (ii) DROP INDEX, apply, CREATE INDEX CONCURRENTLY | %.1f | %.1f | %.1f (%s faster) |\n",
				c.Deferred, c.Build, c.deferredTotal(), ratio(c.Indexed, c.deferredTotal()))
		}
	}
	fmt.Fprint(w, applyNotes)
}

const applyNotes = `
### How to read it

- (a) is the engine's own stream, made with SQL only: a publication and a logical slot on the source,
  the rows copied into the target through a psql binary COPY pipe, the target's HNSW index built over
  them, then CREATE SUBSCRIPTION (copy_data = false) onto the slot. The other rows run the pgvecrep
  binary from an empty target database: bootstrap --copy-schema, start_sync --apply-workers N (which
  copies the rows and builds the index itself). Nothing before the load is timed: the load starts once
  every subscription has its apply worker and every slot has confirmed the source's position.
- Each scenario has its own source database, a file copy of one template (same rows, same index).
- streams: the slots the scenario streamed through (pgvecrep's are the group's stream names that
  exist on the source). A note says when pgvecrep made fewer than asked.
- source tps: pgbench's, without the connection time. apply rows/s in load: the rows the target gained
  during the load over its seconds. backlog rows: the source's rows the target did not have when the
  load stopped.
- update s: the UPDATE's own time on the source (the target receives it at its commit).
- drain s: from the UPDATE's commit until every stream's slot has confirmed the source's WAL end read
  just after it (the insert position, replication.WALEnd: pg_current_wal_lsn() is the write position,
  which with synchronous_commit off can stop short of the commit) and every subscription's replication
  origin on the target has applied a transaction that committed after a position read inside the
  UPDATE's transaction (polled every 0.1 s). When the slots said caught up well before the origins, a
  line under the table says by how much. drain rows/s is (backlog rows + updated rows) / drain s;
  the backlog may partly drain while the UPDATE runs on the source, and still counts. drain rate / (a)
  compares it with (a)'s.
- Every scenario ends by comparing the rows on both sides (count, and a sum of hashes of each row's key,
  vector and note) and the number of valid indexes; a difference fails it.
- Catch-up: one source, one publication, two slots made before the writes, two targets loaded alike with
  disabled subscriptions; the writes run with nothing applying, so both slots hold the same backlog.
  (i) is timed from ENABLE to caught up; then, alone, (ii) from DROP INDEX through ENABLE and catch-up
  to the end of CREATE INDEX CONCURRENTLY.
`
