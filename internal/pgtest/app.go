package pgtest

// AppTypes is the start of every application-schema fixture: schemas shop
// and app, and in shop a domain, an enum, a composite type and a function
// that column defaults call. These are the objects a schema copy must
// create before any table, in dependency order.
const AppTypes = `
CREATE SCHEMA shop;
CREATE SCHEMA app;
CREATE DOMAIN shop.price AS numeric(12,2) CHECK (VALUE >= 0);
CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped');
CREATE TYPE shop.address AS (street text, city text);
CREATE FUNCTION shop.new_code() RETURNS text LANGUAGE sql AS $$ SELECT 'c-' || md5(random()::text) $$;
`

// AppSchema is a small application schema as issue 9 describes it, with
// no rows, indexes or triggers yet: AppTypes, a function used in a CHECK,
// a trigger function app.touch() that sets note to 'touched', customers
// (an identity key and a composite column) in schema customers, and
// app.orders, whose serial key, foreign key to customers, default, check,
// domain, enum and vector columns touch every one of those objects.
// Callers add the indexes, the trigger and the rows, in the order their
// test needs.
func AppSchema(customers string) string {
	return AppTypes + `CREATE FUNCTION shop.sane_qty(n int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT n BETWEEN 1 AND 1000 $$;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'touched'; RETURN NEW; END $$;
CREATE TABLE ` + customers + `.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, ship_to shop.address);
CREATE TABLE app.orders (
  id serial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES ` + customers + `.customers(id),
  code text NOT NULL DEFAULT shop.new_code(),
  qty int NOT NULL CHECK (shop.sane_qty(qty)),
  amount shop.price NOT NULL,
  status shop.status NOT NULL DEFAULT 'new',
  note text,
  embedding vector(3));
`
}
