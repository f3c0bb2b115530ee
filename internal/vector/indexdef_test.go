package vector

import "testing"

func TestIndexTable(t *testing.T) {
	for def, want := range map[string]string{
		"CREATE INDEX items_embedding_idx ON public.items USING hnsw (embedding vector_l2_ops)":                "public.items",
		"CREATE INDEX docs_v_idx ON ONLY public.docs USING hnsw (v vector_cosine_ops) WITH (m='24')":           "public.docs",
		`CREATE UNIQUE INDEX "my ""odd"" ON idx" ON "App Data"."Items.v2" USING ivfflat (e) WITH (lists='10')`: `"App Data"."Items.v2"`,
		"CREATE INDEX i ON s.t USING btree (a) WHERE (a > 0)":                                                  "s.t",
		"CREATE INDEX CONCURRENTLY i ON s.t USING hnsw (e)":                                                    "",
		"CREATE INDEX i ON t USING hnsw (e)":                                                                   "",
		`CREATE INDEX "unterminated ON s.t USING hnsw (e)`:                                                     "",
		"ALTER TABLE s.t ADD CONSTRAINT k PRIMARY KEY (id)":                                                    "",
	} {
		if got := IndexTable(def); got != want {
			t.Errorf("IndexTable(%q) = %q, want %q", def, got, want)
		}
	}
}
