-- svc-payment's schema: payments, their append-only audit ledger,
-- idempotency records, consumed events and the transactional outbox.
-- Applied by pg_migrate inside one transaction.

CREATE TABLE payments (
    id             bigserial PRIMARY KEY,
    order_id       text NOT NULL CHECK (order_id ~ '^[0-9a-f]{24}$'),  -- the order's ObjectId
    user_id        bigint NOT NULL CHECK (user_id > 0),                -- the order's owner
    amount_minor   bigint NOT NULL CHECK (amount_minor >= 0),
    currency       text NOT NULL DEFAULT 'COP' CHECK (currency ~ '^[A-Z]{3}$'),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'completed', 'failed', 'refunded')),
    payment_method text NOT NULL
                   CHECK (payment_method IN ('credit_card', 'debit_card', 'cash', 'bank_transfer')),
    transaction_id text NOT NULL UNIQUE CHECK (char_length(transaction_id) BETWEEN 1 AND 100),
    failure_reason text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- At most one live payment per order: the database, not a read-then-write
-- check, stops a retried order.created event or two concurrent POSTs from
-- charging twice. A failed or refunded payment does not block a new one.
CREATE UNIQUE INDEX payments_one_live_per_order ON payments (order_id)
    WHERE status IN ('pending', 'completed');

-- Listing (?order_id=, own payments newest first, all newest first).
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_user_created ON payments (user_id, created_at DESC, id DESC);
CREATE INDEX payments_created ON payments (created_at DESC, id DESC);

-- The audit ledger: one row per state change, written in the same
-- transaction as the change.
CREATE TABLE payment_audit (
    id           bigserial PRIMARY KEY,
    payment_id   bigint NOT NULL REFERENCES payments (id),
    at           timestamptz NOT NULL DEFAULT now(),
    action       text NOT NULL CHECK (action IN ('created', 'completed', 'failed', 'refunded')),
    from_status  text,
    to_status    text NOT NULL,
    amount_minor bigint NOT NULL,
    actor        text NOT NULL,   -- "user:<id>", "admin:<id>", "system"
    request_id   text,
    event_id     uuid
);

CREATE INDEX payment_audit_payment ON payment_audit (payment_id, id);

-- Append-only, enforced by the database: any UPDATE, DELETE or TRUNCATE
-- fails whoever runs it (the service's own role included).
CREATE FUNCTION payment_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payment_audit is append-only: % refused', TG_OP;
END
$$;

CREATE TRIGGER payment_audit_no_change BEFORE UPDATE OR DELETE ON payment_audit
    FOR EACH ROW EXECUTE FUNCTION payment_audit_refuse();
CREATE TRIGGER payment_audit_no_truncate BEFORE TRUNCATE ON payment_audit
    FOR EACH STATEMENT EXECUTE FUNCTION payment_audit_refuse();

-- Idempotency-Key records (same shape as svc-user's).
CREATE TABLE idempotency_records (
    caller       text NOT NULL,
    key          text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash bytea NOT NULL,
    status       text NOT NULL CHECK (status IN ('in_progress', 'completed')),
    reply        bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key),
    CHECK (status = 'in_progress' OR reply IS NOT NULL)
);

CREATE INDEX idempotency_records_created ON idempotency_records (created_at);

-- Events already applied (at-least-once delivery, exactly-once effect): the
-- consumer inserts the id in the transaction of the effect and skips an id
-- that is already here.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- The transactional outbox: events written in the same transaction as the
-- change that causes them, published (with confirms) by a relay that then
-- sets published_at.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,        -- routing key: "payment.completed"
    correlation_id text NOT NULL,      -- the order id
    request_id   text,
    payload      bytea NOT NULL,       -- the packed protobuf event
    created_at   timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    published_at timestamptz
);

CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
