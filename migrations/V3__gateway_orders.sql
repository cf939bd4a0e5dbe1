-- Real gateways: an order create that timed out may still have reached the gateway. Until the
-- attempt's order is found or created, the next try asks the gateway for it by receipt first.
ALTER TABLE transaction_attempts ADD COLUMN order_unconfirmed_at timestamptz;

-- What the checkout page hands a gateway's browser script (Stripe's PaymentIntent client secret,
-- Cashfree's payment session id).
ALTER TABLE transaction_attempts ADD COLUMN checkout_token text;
