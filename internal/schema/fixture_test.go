package schema

import "github.com/pgvecrep/pgvecrep/internal/pgtest"

// appFixture is a small application schema with the objects real databases
// have: pgtest.AppSchema with customers in schema public (a foreign key
// across schemas), plus two indexes, a trigger, a view and a table nothing
// depends on. testdata/toc.txt and restore.sql were made from it.
var appFixture = pgtest.AppSchema("public") + `
CREATE INDEX orders_customer_idx ON app.orders (customer_id);
CREATE INDEX orders_embedding_idx ON app.orders USING hnsw (embedding vector_l2_ops);
CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE VIEW app.paid_orders AS SELECT id, amount FROM app.orders WHERE status = 'paid';
CREATE TABLE public.unrelated (id int PRIMARY KEY, label text);
`

// moreObjects adds what issue 9 lists beyond appFixture: a hash-partitioned
// table with a vector index on the parent, a STORED generated column, a
// dropped column, a materialized view and a sequence no column owns.
const moreObjects = `
CREATE TABLE app.events (id bigint, tenant int, embedding vector(3), PRIMARY KEY (id, tenant)) PARTITION BY HASH (tenant);
CREATE TABLE app.events_0 PARTITION OF app.events FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE app.events_1 PARTITION OF app.events FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE INDEX events_embedding_idx ON app.events USING hnsw (embedding vector_l2_ops);
ALTER TABLE app.orders ADD COLUMN total numeric GENERATED ALWAYS AS (qty * amount) STORED, ADD COLUMN gone int;
ALTER TABLE app.orders DROP COLUMN gone;
CREATE MATERIALIZED VIEW app.order_totals AS SELECT status, count(*) AS n FROM app.orders GROUP BY status;
CREATE SEQUENCE shop.invoice_no START 1000;
`
