package catalog

import (
	"slices"
	"testing"
)

// TestSplitList: commas inside double quotes do not split, parts are
// trimmed, and a list that ends in a comma has no empty last part (an empty
// one elsewhere stays, for the caller to refuse).
func TestSplitList(t *testing.T) {
	for _, tc := range []struct {
		in        string
		raw, list []string
	}{
		{"", []string{""}, []string{""}},
		{"a", []string{"a"}, []string{"a"}},
		{" a , b ", []string{" a ", " b "}, []string{"a", "b"}},
		{`app."x,y", b`, []string{`app."x,y"`, " b"}, []string{`app."x,y"`, "b"}},
		{"a,", []string{"a", ""}, []string{"a"}},
		{"a,,b", []string{"a", "", "b"}, []string{"a", "", "b"}},
		{`"un,closed`, []string{`"un,closed`}, []string{`"un,closed`}},
	} {
		if got := SplitOutsideQuotes(tc.in); !slices.Equal(got, tc.raw) {
			t.Errorf("SplitOutsideQuotes(%q) = %q, want %q", tc.in, got, tc.raw)
		}
		if got := splitList(tc.in); !slices.Equal(got, tc.list) {
			t.Errorf("splitList(%q) = %q, want %q", tc.in, got, tc.list)
		}
	}
}
