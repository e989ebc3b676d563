-- A charge is attempted at most once per payment: the worker that sets
-- charge_started_at (from NULL, on a pending payment) is the only one that
-- calls the processor. A payment left pending with the marker set (its
-- process died mid-charge) is settled by asking the processor for the
-- outcome of that charge, never by charging again.
ALTER TABLE payments ADD COLUMN charge_started_at timestamptz;

-- The refund of a payment is also attempted once.
ALTER TABLE payments ADD COLUMN refund_started_at timestamptz;

-- The token the client gave for the charge (a processor reference such as
-- "tok_visa", never a card number), kept so that a payment whose process
-- died before charging can still be charged by the recovery sweep.
ALTER TABLE payments ADD COLUMN payment_token text NOT NULL DEFAULT ''
    CHECK (char_length(payment_token) <= 128);
