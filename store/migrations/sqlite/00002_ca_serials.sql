-- The user CA's certificate serial counter: one row, bumped atomically, so
-- replicas sharing the state never issue the same serial twice.
-- +goose Up
CREATE TABLE ca_serials (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	last_serial BIGINT NOT NULL
);
INSERT INTO ca_serials (id, last_serial) VALUES (1, 0);

-- +goose Down
DROP TABLE ca_serials;
