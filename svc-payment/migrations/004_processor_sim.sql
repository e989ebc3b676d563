-- The built-in payment simulator's records (svc-payment/payment_processor.c):
-- the references it charged and what it decided for each, as a card
-- processor keeps them, durably and shared by every svc-payment replica.
-- It is not svc-payment's own data: a real processor has these on its side.
-- In the process's memory, as they were, a restart or a second replica
-- forgot them, and a charge made but whose outcome was not recorded was
-- looked up as never made and charged again. decision: 0 approved,
-- 1 declined (tok_decline), 2 over the limit (payment_sim_decision).
CREATE TABLE processor_sim_charges (
    reference  text PRIMARY KEY,
    decision   smallint NOT NULL CHECK (decision BETWEEN 0 AND 2),
    charged_at timestamptz NOT NULL DEFAULT now()
);
