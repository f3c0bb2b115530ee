package vector

import "testing"

func TestHNSWMemory(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		def         string
		bytes       int64
		rows        int64
		workers     int
		want        int64
		wantAtLeast int64
	}{
		// 100k x 128-d: the graph measured 1274 B a row, 127 MB in all.
		{def: "CREATE INDEX i ON public.items USING hnsw (embedding vector_l2_ops)", bytes: 56 * mb, rows: 100_000, workers: 2,
			want: (56*mb + 100_000*1024) * 5 / 4, wantAtLeast: 100_000 * 1274},
		// 50k x 768-d: measured 4004 B a row, 200 MB.
		{def: "CREATE INDEX d ON public.docs USING hnsw (embedding vector_cosine_ops)", bytes: 396 * mb, rows: 50_000, workers: 2,
			want: (396*mb + 50_000*1024) * 5 / 4, wantAtLeast: 50_000 * 4004},
		// m from the definition, as pg_get_indexdef prints it.
		{def: "CREATE INDEX d ON public.docs USING hnsw (embedding vector_l2_ops) WITH (m='32', ef_construction='128')", bytes: 10 * mb, rows: 100_000, workers: 2,
			want: (10*mb + 100_000*(48*32+256)) * 5 / 4},
		// A small table gets 32MB for each of its three participants.
		{def: "CREATE INDEX s ON s USING HNSW (v vector_l2_ops)", bytes: mb, rows: 200, workers: 2, want: 3 * 32 * mb},
		{def: "CREATE INDEX s ON s USING hnsw (v vector_l2_ops)", bytes: mb, rows: 200, workers: 0, want: 32 * mb},
		// Not HNSW, or rows unknown: no estimate.
		{def: "CREATE INDEX p ON p USING ivfflat (v vector_l2_ops) WITH (lists = 100)", bytes: mb, rows: 1000, want: 0},
		{def: "CREATE INDEX p ON p USING hnsw (v vector_l2_ops)", bytes: mb, rows: -1, want: 0},
	}
	for _, tt := range tests {
		got := HNSWMemory(tt.def, tt.bytes, tt.rows, tt.workers)
		if got != tt.want {
			t.Errorf("HNSWMemory(%q, %d, %d, %d) = %d, want %d", tt.def, tt.bytes, tt.rows, tt.workers, got, tt.want)
		}
		if got < tt.wantAtLeast {
			t.Errorf("HNSWMemory(%q) = %d, under the measured graph size %d", tt.def, got, tt.wantAtLeast)
		}
	}
}
