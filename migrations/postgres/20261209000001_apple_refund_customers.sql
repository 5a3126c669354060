-- Apple's Get Refund History is per customer: the refund sweep asks once per customer (their app
-- transaction) and keeps Apple's revision, so a later pass gets only refunds added since.
CREATE TABLE apple_refund_customers (
    store_app_id BIGINT NOT NULL REFERENCES store_apps (id),
    customer TEXT NOT NULL,
    revision TEXT,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (store_app_id, customer)
);
