package cli

import "testing"

func TestOneLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"connect: connection refused: connection refused", "connect: connection refused"},
		{"a\n  b:  c", "a b: c"},
		{"x: y: x", "x: y: x"},
	} {
		if got := oneLine(tc.in); got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
