package testenv

import (
	"errors"
	"testing"
)

// recorder is a testing.TB whose Fatalf and Skip only record the call.
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Skip(...any)           { r.skipped = true }

// TestNeed checks both sides of the rule: nothing happens without an error;
// an error fails the test by default and skips it only under the opt-out.
func TestNeed(t *testing.T) {
	for _, c := range []struct {
		env             string
		err             error
		failed, skipped bool
	}{
		{"", nil, false, false},
		{"", errors.New("no initdb"), true, false},
		{"1", errors.New("no initdb"), true, false},
		{"0", nil, false, false},
		{"0", errors.New("no initdb"), false, true},
	} {
		t.Setenv(OptOut, c.env)
		r := &recorder{TB: t}
		Need(r, "PostgreSQL", c.err)
		if r.failed != c.failed || r.skipped != c.skipped {
			t.Errorf("%s=%q, err %v: failed %v skipped %v, want %v %v", OptOut, c.env, c.err, r.failed, r.skipped, c.failed, c.skipped)
		}
	}
}
