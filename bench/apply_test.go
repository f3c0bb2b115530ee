package main

import (
	"strings"
	"testing"
)

func TestPgbenchTPS(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want float64
		err  bool
	}{
		{
			name: "15",
			out: `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/insert.sql
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 30 s
number of transactions actually processed: 24112
number of failed transactions: 0 (0.000%)
latency average = 4.976 ms
initial connection time = 9.370 ms
tps = 803.678457 (without initial connection time)
`,
			want: 803.678457,
		},
		{
			name: "13, two tps lines: the first is without connections",
			out: `number of transactions actually processed: 1200
tps = 39.912 (including connections establishing)
tps = 40.125 (excluding connections establishing)
`,
			want: 39.912,
		},
		{name: "integer", out: "tps = 12 (without initial connection time)\n", want: 12},
		{name: "no tps line", out: "pgbench: error: connection to server failed\n", err: true},
		{name: "tps inside a line is not the report", out: "latency tps = 5\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pgbenchTPS(tt.out)
			if (err != nil) != tt.err {
				t.Fatalf("pgbenchTPS error = %v, want error %t", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("pgbenchTPS = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestApplyScenarios(t *testing.T) {
	tests := []struct {
		list   string
		labels []string
		err    string
	}{
		{list: "1,2,4", labels: []string{"(a) engine, 1 worker (SQL only)", "(b) pgvecrep --apply-workers 1",
			"(c) pgvecrep --apply-workers 2", "(d) pgvecrep --apply-workers 4"}},
		{list: "", labels: []string{"(a) engine, 1 worker (SQL only)"}},
		{list: " 3 ,", labels: []string{"(a) engine, 1 worker (SQL only)", "(b) pgvecrep --apply-workers 3"}},
		{list: "0", err: `"0" is not a worker count`},
		{list: "1,two", err: `"two" is not a worker count`},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			ss, err := applyScenarios(tt.list)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("applyScenarios(%q) error = %v, want one containing %q", tt.list, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var labels []string
			for _, s := range ss {
				labels = append(labels, s.Label)
			}
			if strings.Join(labels, "|") != strings.Join(tt.labels, "|") {
				t.Errorf("applyScenarios(%q) = %q, want %q", tt.list, labels, tt.labels)
			}
			if ss[0].Workers != 0 || ss[0].ID != "engine" {
				t.Errorf("the first scenario is %+v, want the engine's (0 workers)", ss[0])
			}
		})
	}
}

func TestApplyCells(t *testing.T) {
	res := applyResult{Label: "(b) x", Streams: 2, ApplyRate: 100, BacklogRows: 7, Drain: 10, DrainRate: 300,
		writeOut: writeOut{TPS: 500.04, Update: 12.34}}
	got := strings.Join(applyCells(res, 150), "|")
	if want := "(b) x|2|500.0|100.0|7|12.3|10.0|300.0|2.00×"; got != want {
		t.Errorf("applyCells = %q, want %q", got, want)
	}
	res.Error = "DATA MISMATCH: a\nb"
	if got := applyCells(res, 150); len(got) != 2 || got[1] != "failed: DATA MISMATCH: a ..." {
		t.Errorf("a failed result's cells = %q", got)
	}
}
