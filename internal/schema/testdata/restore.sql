--
-- PostgreSQL database dump
--

\restrict 61ik5fI6sru2AYanhTNes2CbjFR3NDsyzB0ND6EMzoIq0SieJjPbHFiPn4nkzCr

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: app; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA app;


--
-- Name: shop; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA shop;


--
-- Name: vector; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;


--
-- Name: EXTENSION vector; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods';


--
-- Name: address; Type: TYPE; Schema: shop; Owner: -
--

CREATE TYPE shop.address AS (
	street text,
	city text
);


--
-- Name: price; Type: DOMAIN; Schema: shop; Owner: -
--

CREATE DOMAIN shop.price AS numeric(12,2)
	CONSTRAINT price_check CHECK ((VALUE >= (0)::numeric));


--
-- Name: status; Type: TYPE; Schema: shop; Owner: -
--

CREATE TYPE shop.status AS ENUM (
    'new',
    'paid',
    'shipped'
);


--
-- Name: touch(); Type: FUNCTION; Schema: app; Owner: -
--

CREATE FUNCTION app.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN NEW.note := 'touched'; RETURN NEW; END $$;


--
-- Name: new_code(); Type: FUNCTION; Schema: shop; Owner: -
--

CREATE FUNCTION shop.new_code() RETURNS text
    LANGUAGE sql
    AS $$ SELECT 'c-' || md5(random()::text) $$;


--
-- Name: sane_qty(integer); Type: FUNCTION; Schema: shop; Owner: -
--

CREATE FUNCTION shop.sane_qty(n integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT n BETWEEN 1 AND 1000 $$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: orders; Type: TABLE; Schema: app; Owner: -
--

CREATE TABLE app.orders (
    id integer NOT NULL,
    customer_id bigint NOT NULL,
    code text DEFAULT shop.new_code() NOT NULL,
    qty integer NOT NULL,
    amount shop.price NOT NULL,
    status shop.status DEFAULT 'new'::shop.status NOT NULL,
    note text,
    embedding public.vector(3),
    CONSTRAINT orders_qty_check CHECK (shop.sane_qty(qty))
);


--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: app; Owner: -
--

CREATE SEQUENCE app.orders_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: orders_id_seq; Type: SEQUENCE OWNED BY; Schema: app; Owner: -
--

ALTER SEQUENCE app.orders_id_seq OWNED BY app.orders.id;


--
-- Name: paid_orders; Type: VIEW; Schema: app; Owner: -
--

CREATE VIEW app.paid_orders AS
 SELECT orders.id,
    orders.amount
   FROM app.orders
  WHERE (orders.status = 'paid'::shop.status);


--
-- Name: customers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.customers (
    id bigint NOT NULL,
    name text NOT NULL,
    ship_to shop.address
);


--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.customers ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.customers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: unrelated; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.unrelated (
    id integer NOT NULL,
    label text
);


--
-- Name: orders id; Type: DEFAULT; Schema: app; Owner: -
--

ALTER TABLE ONLY app.orders ALTER COLUMN id SET DEFAULT nextval('app.orders_id_seq'::regclass);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: app; Owner: -
--

ALTER TABLE ONLY app.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: unrelated unrelated_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.unrelated
    ADD CONSTRAINT unrelated_pkey PRIMARY KEY (id);


--
-- Name: orders_customer_idx; Type: INDEX; Schema: app; Owner: -
--

CREATE INDEX orders_customer_idx ON app.orders USING btree (customer_id);


--
-- Name: orders_embedding_idx; Type: INDEX; Schema: app; Owner: -
--

CREATE INDEX orders_embedding_idx ON app.orders USING hnsw (embedding public.vector_l2_ops);


--
-- Name: orders orders_touch; Type: TRIGGER; Schema: app; Owner: -
--

CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: app; Owner: -
--

ALTER TABLE ONLY app.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);


--
-- PostgreSQL database dump complete
--

\unrestrict 61ik5fI6sru2AYanhTNes2CbjFR3NDsyzB0ND6EMzoIq0SieJjPbHFiPn4nkzCr

