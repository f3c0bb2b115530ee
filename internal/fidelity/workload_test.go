package fidelity

import (
	"fmt"
	"math/rand/v2"
)

// op is one statement of the workload, with the kind the log names.
type op struct {
	kind, sql string
}

// round is the workload's round r on every table: inserts of new rows (ids
// in a range of the round's own), an update of a plain column, updates of a
// TOASTed column and of another column leaving it unchanged, a key update,
// a delete, and for some tables a truncate followed by fresh rows. Each
// statement commits on its own. rng picks which tables are truncated and
// which rows each statement touches.
func round(rng *rand.Rand, tables []table, r int) []op {
	var ops []op
	for _, t := range tables {
		base := 2000 * r
		for _, into := range targetsOf(t) {
			ops = append(ops, op{"insert", t.insert(into, base+1, base+20)})
		}
		if t.key == keyNone { // insert-only: the source refuses its updates and deletes
			continue
		}
		m := 3 + rng.IntN(5)
		keep := "true"
		if t.keep != "" {
			keep = t.keep
		}
		ops = append(ops, op{"update a plain column", fmt.Sprintf("UPDATE %s SET note = md5(note) WHERE id %% %d = 1 AND %s", t.name, m, keep)})
		for _, c := range t.cols {
			if !c.toast {
				continue
			}
			ops = append(ops,
				op{"update a TOASTed column", fmt.Sprintf("UPDATE %[1]s x SET %[2]s = (SELECT %[3]s FROM (SELECT x.id AS i) s) WHERE id %% %[4]d = 2 AND %[5]s", t.name, c.name, c.value, m, keep)},
				op{"update leaving a TOASTed column unchanged", fmt.Sprintf("UPDATE %s SET note = note || 'u' WHERE id %% %d = 3 AND %s", t.name, m, keep)})
		}
		ops = append(ops,
			op{"update the key", fmt.Sprintf("UPDATE %s SET id = id + 100000 WHERE id %% %d = 4 AND id < 100000 AND %s", t.name, m+4, keep)},
			op{"delete", fmt.Sprintf("DELETE FROM %s WHERE id %% %d = 5", t.name, m+6)})
		if !t.refd && rng.IntN(4) == 0 {
			ops = append(ops, op{"truncate", "TRUNCATE " + t.name})
			for _, into := range targetsOf(t) {
				ops = append(ops, op{"insert after truncate", t.insert(into, base+500, base+510)})
			}
		}
	}
	return ops
}

// targetsOf are the tables inserts go to: the table (its partitions take
// the rows), and an inheritance child too.
func targetsOf(t table) []string {
	if t.inherits {
		return []string{t.name, t.name + "_child"}
	}
	return []string{t.name}
}
