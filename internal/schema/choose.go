package schema

// Choosing what to restore works on the archive's own dependency graph, so
// pgvecrep never decides by itself which DDL a table needs: pg_dump has
// already recorded that a table depends on its schema, its column types and
// the functions in its defaults and checks, and that a trigger depends on
// its function.

// choose returns the entries to restore, in archive order. With tables nil
// the whole archive is chosen. Otherwise it starts from those TABLE entries
// and grows to a fixed point: everything a chosen entry depends on, every
// entry owned by a chosen entry (its indexes, constraints, defaults,
// triggers, sequences, partitions; owners maps entry id to owner entry id),
// and object-less entries (comments, OWNED BY) whose dependencies are all
// chosen. A foreign key thus brings the table it references, with that
// table's own keys and defaults.
func choose(entries []Entry, owners map[int]int, tables map[int]bool) []Entry {
	in := map[int]bool{}
	byID := map[int]Entry{}
	for _, e := range entries {
		byID[e.ID] = e
		if settingDescs[e.Desc] || (!skippedDescs[e.Desc] && (tables == nil || tables[e.ID])) {
			in[e.ID] = true
		}
	}
	for changed := tables != nil; changed; {
		changed = false
		add := func(id int) {
			if e, ok := byID[id]; ok && !in[id] && !skippedDescs[e.Desc] {
				in[id], changed = true, true
			}
		}
		for _, e := range entries {
			if in[e.ID] {
				for _, d := range e.Deps {
					add(d)
				}
				continue
			}
			if o, ok := owners[e.ID]; ok && in[o] {
				add(e.ID)
			} else if e.ObjID == 0 && len(e.Deps) > 0 && allIn(e.Deps, in) {
				add(e.ID)
			}
		}
	}
	var out []Entry
	for _, e := range entries {
		if in[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

func allIn(ids []int, in map[int]bool) bool {
	for _, id := range ids {
		if !in[id] {
			return false
		}
	}
	return true
}

// preexisting says which chosen entries the target already has, so a rerun
// restores nothing twice. exists answers for standalone objects (looked up
// on the target by their address). An owned entry goes with its owner: the
// index of a table that was kept is not created again, the index of a new
// table is. A partition, owned by its parent, is still looked up by itself,
// so a partition added on the source since the last run is created. An
// object-less entry (a comment, OWNED BY, ATTACH PARTITION) is there when
// everything it depends on was: attaching a new partition to a kept parent
// is not. What belongs to such a new partition (indexes, keys) counts as
// there too: attaching it to the kept parent creates them.
func preexisting(chosen []Entry, owners map[int]int, exists map[int]bool) map[int]bool {
	byID := map[int]Entry{}
	for _, e := range chosen {
		byID[e.ID] = e
	}
	memo := map[int]bool{}
	var has func(id int, depth int) bool
	has = func(id int, depth int) bool {
		if v, ok := memo[id]; ok || depth > 64 {
			return v
		}
		e, ok := byID[id]
		var v bool
		switch {
		case !ok || settingDescs[e.Desc]:
			v = false
		case owners[id] != 0 && e.Desc != "TABLE":
			o := owners[id]
			// On a new partition of a kept parent, ATTACH PARTITION makes
			// the parent's indexes, keys and triggers itself.
			v = has(o, depth+1) || (byID[o].Desc == "TABLE" && owners[o] != 0 && has(owners[o], depth+1))
		case e.ObjID != 0:
			v = exists[id]
		default:
			v = len(e.Deps) > 0
			for _, d := range e.Deps {
				v = v && has(d, depth+1)
			}
		}
		memo[id] = v
		return v
	}
	out := map[int]bool{}
	for _, e := range chosen {
		if has(e.ID, 0) {
			out[e.ID] = true
		}
	}
	return out
}
