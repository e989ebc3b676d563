-- svc-user's schema: accounts, login sessions (refresh-token chains) and
-- idempotency records. Applied by pg_migrate inside one transaction.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- Stored lower-case (the service lower-cases it; the CHECK makes sure).
    email         text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254 AND email = lower(email)),
    -- Argon2id PHC string; NULL: created by an admin without a password, cannot log in yet.
    password_hash text,
    role          text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Duplicate e-mails are refused case-insensitively, by the database itself
-- (two concurrent sign-ups cannot both win). A soft-deleted user keeps its
-- address: reusing it would hand the old account's history to someone else.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- "Create the first admin when none exists" at every start.
CREATE INDEX users_admins ON users (id) WHERE role = 'admin';

-- One row per refresh token. A login starts a chain (family): its first row
-- has family_id = id, and that id is the access token's `sid`. A refresh
-- marks the presented row replaced and adds the next one (rotation + 1).
-- Presenting a replaced token again is reuse: the whole family is revoked.
CREATE TABLE sessions (
    id           bigserial PRIMARY KEY,
    family_id    bigint NOT NULL REFERENCES sessions (id),
    user_id      bigint NOT NULL REFERENCES users (id),
    rotation     integer NOT NULL DEFAULT 0 CHECK (rotation >= 0),
    -- SHA-256 of the refresh token; the token itself is never stored.
    refresh_hash bytea NOT NULL UNIQUE CHECK (octet_length(refresh_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    replaced_at  timestamptz,
    revoked_at   timestamptz,
    revoke_reason text CHECK (revoke_reason IN ('logout', 'reuse', 'user_deleted', 'user_suspended', 'admin')),
    CHECK (rotation > 0 OR family_id = id),
    -- Two concurrent refreshes of one token cannot both add a successor.
    UNIQUE (family_id, rotation)
);

-- Revoking every session of a user (deletion, suspension).
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Idempotency-Key records: the first request's reply, replayed to a retry.
-- caller is "user:<id>" or "anon:<client address>"; request_hash tells a
-- retry (same body) from a misuse (different body, 422); status
-- 'in_progress' answers a concurrent duplicate with 409.
CREATE TABLE idempotency_records (
    caller       text NOT NULL,
    key          text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash bytea NOT NULL,
    status       text NOT NULL CHECK (status IN ('in_progress', 'completed')),
    reply        bytea,   -- the packed RpcReply, once completed
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key),
    CHECK (status = 'in_progress' OR reply IS NOT NULL)
);

-- Expiry sweep (records live at least 24 h).
CREATE INDEX idempotency_records_created ON idempotency_records (created_at);
