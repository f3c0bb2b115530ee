package cli

// Flags of pg_easy_replicate whose job pgvecrep does another way: they are
// accepted, so its users' scripts run, and say in one line what happens.
const (
	recreateIndicesNote = "indexes are always built after the data is copied, never during switchover; nothing to do"
)
