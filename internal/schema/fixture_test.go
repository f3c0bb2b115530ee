package schema

// appFixture is a small application schema with the objects real databases
// have: several schemas, an enum, a domain, a composite type, a function used
// in a DEFAULT and in a CHECK, identity and serial columns, a view, a trigger
// and a foreign key across schemas.
const appFixture = `
CREATE SCHEMA shop;
CREATE SCHEMA app;
CREATE DOMAIN shop.price AS numeric(12,2) CHECK (VALUE >= 0);
CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped');
CREATE TYPE shop.address AS (street text, city text);
CREATE FUNCTION shop.new_code() RETURNS text LANGUAGE sql AS $$ SELECT 'c-' || md5(random()::text) $$;
CREATE FUNCTION shop.sane_qty(n int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT n BETWEEN 1 AND 1000 $$;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'touched'; RETURN NEW; END $$;
CREATE TABLE public.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, ship_to shop.address);
CREATE TABLE app.orders (
  id serial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES public.customers(id),
  code text NOT NULL DEFAULT shop.new_code(),
  qty int NOT NULL CHECK (shop.sane_qty(qty)),
  amount shop.price NOT NULL,
  status shop.status NOT NULL DEFAULT 'new',
  note text,
  embedding vector(3));
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
