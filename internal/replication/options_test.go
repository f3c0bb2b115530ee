package replication

import (
	"strings"
	"testing"
)

func TestSubscriptionOptions(t *testing.T) {
	tests := []struct {
		name      string
		s         Subscription
		target    int
		with      string
		notes     []string // substrings, one per note, in order
		notWanted string
	}{
		{"15 target", Subscription{Slot: "s", CopyData: true, Failover: true}, 15,
			"copy_data = true, create_slot = false, slot_name = 's'", nil, "binary"},
		{"18 native", Subscription{Slot: "s", CopyData: true}, 18,
			"copy_data = true, create_slot = false, slot_name = 's', binary = true", []string{"binary = true", "run_as_owner = false"}, "failover"},
		{"18 fast path", Subscription{Slot: "s"}, 18,
			"copy_data = false, create_slot = false, slot_name = 's'", []string{"run_as_owner"}, "binary"},
		{"18 text only", Subscription{Slot: "s", CopyData: true, TextOnly: true}, 18,
			"copy_data = true, create_slot = false, slot_name = 's'", []string{"run_as_owner"}, "binary"},
		{"16 failover", Subscription{Slot: "s", Failover: true}, 16,
			"copy_data = false, create_slot = false, slot_name = 's'", []string{"run_as_owner"}, "failover"},
		{"17 failover", Subscription{Slot: "s", Failover: true}, 17,
			"copy_data = false, create_slot = false, slot_name = 's', failover = true", []string{"run_as_owner", "failover = true"}, "binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			with, notes := subscriptionOptions(tt.s, tt.target)
			if with != tt.with {
				t.Errorf("with = %q, want %q", with, tt.with)
			}
			if len(notes) != len(tt.notes) {
				t.Fatalf("notes = %q, want %d", notes, len(tt.notes))
			}
			for i, n := range tt.notes {
				if !strings.Contains(notes[i], n) {
					t.Errorf("note %d = %q, want %q in it", i, notes[i], n)
				}
			}
			if strings.Contains(with+strings.Join(notes, " "), tt.notWanted) {
				t.Errorf("%q in %q %q", tt.notWanted, with, notes)
			}
		})
	}
}
