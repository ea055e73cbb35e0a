-- The schema of the first release (store.go before versioned migrations), verbatim:
-- TestMigrateReleaseOneFile builds a state file with it and opens it.
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
	name TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	groups_csv TEXT NOT NULL DEFAULT '',
	keys TEXT NOT NULL DEFAULT '',
	otp_kind TEXT NOT NULL DEFAULT '',
	otp_secret BLOB,
	otp_digits INTEGER NOT NULL DEFAULT 6,
	otp_period INTEGER NOT NULL DEFAULT 30,
	otp_window INTEGER NOT NULL DEFAULT 1,
	hotp_counter INTEGER NOT NULL DEFAULT 0,
	totp_last_step INTEGER NOT NULL DEFAULT 0,
	failures INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	enroll_until INTEGER NOT NULL DEFAULT 0,
	enroll_token TEXT NOT NULL DEFAULT '',
	last_login INTEGER NOT NULL DEFAULT 0,
	last_source TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS recovery (
	user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	hash TEXT NOT NULL,
	used_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user, hash)
);
