package group

import "testing"

func TestStreamNames(t *testing.T) {
	g := Group{ObjectName: "pgvecrep_g", Streams: 3}
	want := []string{"pgvecrep_g", "pgvecrep_g_p1", "pgvecrep_g_p2"}
	got := g.StreamNames()
	if len(got) != len(want) {
		t.Fatalf("StreamNames = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || StreamBase(got[i]) != "pgvecrep_g" {
			t.Errorf("stream %d: %s (base %s), want %s (base pgvecrep_g)", i, got[i], StreamBase(got[i]), want[i])
		}
	}
	if n := len((Group{ObjectName: "pgvecrep_g"}).StreamNames()); n != 1 {
		t.Errorf("a group with no streams recorded has %d streams, want 1", n)
	}
	for _, s := range []string{"pgvecrep_a_p", "pgvecrep_a_px1", "pgvecrep_top"} {
		if b := StreamBase(s); b != s {
			t.Errorf("StreamBase(%q) = %q, want it unchanged", s, b)
		}
	}
}
