-- The recovery sweep's turns (svc-payment/payment_events.c, pay_sweep). A
-- SettlePayment that fails or times out (a processor that keeps the lookup
-- of one reference waiting past the sweep's deadline, or cannot be reached)
-- pushes its payment back until sweep_next_at, sweep_failures calls in a
-- row having failed (the wait doubles with each): before, such a payment
-- stayed first in the sweep's order, each pass ended at it, and the
-- payments after it were never settled. A call that answers resets both.
-- They decide only when the sweep asks again, never whether a charge or a
-- refund is abandoned (charge_started_at, refund_started_at).
ALTER TABLE payments ADD COLUMN sweep_failures integer NOT NULL DEFAULT 0
    CHECK (sweep_failures >= 0);
ALTER TABLE payments ADD COLUMN sweep_next_at timestamptz;
