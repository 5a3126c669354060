-- An item's registered prices, one per currency, the lowest position the default. A payment whose
-- store answer carries no amount is recorded at its item's list price, marked as such, until the
-- store's own figure arrives.
CREATE TABLE product_prices (
    product_seq BIGINT NOT NULL REFERENCES products (product_seq),
    currency TEXT NOT NULL,
    price_micros BIGINT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (product_seq, currency)
);
ALTER TABLE payments ADD COLUMN price_is_list INTEGER NOT NULL DEFAULT 0;
