package preflight

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// claim is what says a table already belongs to another group.
type claim struct {
	group string // "" when the target does not know the publication's group
	by    string // how it is known, for the finding
}

// publishedQuery lists the tables of every pgvecrep publication on the
// source but $1 (the group being started). pgvecrep's own tables (the DDL
// logs, in schema $2) are no one's data.
const publishedQuery = `SELECT pubname::text, schemaname::text, tablename::text FROM pg_publication_tables
WHERE pubname LIKE 'pgvecrep\_%' AND pubname <> $1 AND schemaname <> $2`

// otherGroups: a table belongs to one group. Two groups that replicate one
// table into one target both copy it, and the second copy fails on the
// first one's rows, retried without end (the table reads "copying"
// forever); had it succeeded, every change would be applied twice. A table
// is another group's when that group's publication on the source has it
// (also a table a whole-schema group picked up after it was created) or the
// target's metadata lists it for a group that copies or streams.
func (c *checker) otherGroups(ctx context.Context) {
	if len(c.report.Tables) == 0 {
		return
	}
	claims, err := c.claims(ctx)
	if err != nil {
		c.broken("groups", fmt.Errorf("read which tables pgvecrep's groups replicate: %w", err))
		return
	}
	found := 0
	for _, t := range c.report.Tables {
		if cl, ok := claims[t.Name.Quoted()]; ok {
			found++
			c.add(claimFinding(t.Name, cl))
		}
	}
	if found == 0 {
		c.ok("groups", "no selected table belongs to another pgvecrep group")
	}
}

// claimFinding is the finding for a table another group has: an error when
// the target knows that group (it replicates into this database), a
// warning when only the source's publication says so (it may feed another
// target, which is no conflict).
func claimFinding(t pg.Name, cl claim) Finding {
	detail := fmt.Sprintf("table %s is replicated by %s already", t, cl.by)
	if cl.group == "" {
		return Finding{Check: "groups", Status: StatusWarn, Detail: detail,
			Hint: fmt.Sprintf("if that group replicates into this target, leave the table out with -e %s: a table belongs to one group", t)}
	}
	return Finding{Check: "groups", Status: StatusError, Detail: detail,
		Hint: fmt.Sprintf("a table belongs to one group: leave it out with -e %s, or choose other tables with -t (to move it here, stop group %s first: pgvecrep stop_sync -g %s)",
			t, cl.group, cl.group)}
}

// claims maps a table's quoted name to the other group that has it.
func (c *checker) claims(ctx context.Context) (map[string]claim, error) {
	names, err := c.groupsByObject(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]claim{}
	rows, err := c.src.Query(ctx, publishedQuery, group.ObjectName(c.o.Group), group.Schema)
	if err != nil {
		return nil, err
	}
	var pub string
	var t pg.Name
	_, err = pgx.ForEachRow(rows, []any{&pub, &t.Schema, &t.Name}, func() error {
		name := names[pub]
		if name == "" {
			name = names[group.StreamBase(pub)]
		}
		by := fmt.Sprintf("group %s (publication %s on the source)", name, pub)
		if name == "" {
			by = fmt.Sprintf("publication %s on the source, of a group this target does not know", pub)
		}
		out[t.Quoted()] = claim{group: name, by: by}
		return nil
	})
	if err != nil {
		return nil, err
	}
	owners, err := tableOwners(ctx, c.tgt)
	if err != nil {
		return nil, err
	}
	for table, o := range owners {
		if _, known := out[table]; known || o.group == c.o.Group || !active(o.phase) {
			continue
		}
		out[table] = claim{group: o.group, by: fmt.Sprintf("group %s (%s on the target)", o.group, o.phase)}
	}
	return out, nil
}

// groupsByObject maps each of the target's groups' publication name to
// the group (group.ObjectName maps a group to its publication, not back).
func (c *checker) groupsByObject(ctx context.Context) (map[string]string, error) {
	names, err := group.Names(ctx, c.tgt)
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[group.ObjectName(n)] = n
	}
	return out, err
}

// active reports whether a group in phase replicates its tables now.
func active(phase string) bool {
	switch group.Phase(phase) {
	case group.Copying, group.Indexing, group.Streaming:
		return true
	}
	return false
}
