-- Orders whose order.cancelled svc-payment has taken. Events of one order
-- can arrive out of order (a nack requeues one; two replicas run two at
-- once), so an order.cancelled may come before its order.created. The row
-- makes the late order.created create nothing: no charge of a cancelled
-- order, no pending payment left on it. Taken and checked under the
-- order's advisory lock (pay_order_lock), so neither can miss the other.
CREATE TABLE cancelled_orders (
    order_id     text PRIMARY KEY CHECK (order_id ~ '^[0-9a-f]{24}$'),
    event_id     text,
    cancelled_at timestamptz NOT NULL DEFAULT now()
);
