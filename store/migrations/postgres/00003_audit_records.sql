-- Audit records of every replica: each replica's hash chain (the lines of
-- its local audit log, verbatim), so any host can show and verify them all.
-- +goose Up
CREATE TABLE audit_records (
	replica TEXT NOT NULL,
	seq BIGINT NOT NULL,
	at_ns BIGINT NOT NULL,
	line TEXT NOT NULL,
	PRIMARY KEY (replica, seq)
);
CREATE INDEX audit_records_at ON audit_records (at_ns);

-- +goose Down
DROP TABLE audit_records;
