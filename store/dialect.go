// The SQL that differs between SQLite and PostgreSQL, all in one place:
// opening the database, placeholders, unique violations and migrations.
// Every query in the package is written once, with "?" placeholders and the
// column "user" quoted, and runs on both.
package store

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what one database engine needs that the other does not.
type dialect struct {
	name       string        // "sqlite" or "postgres", also the migrations directory
	goose      goose.Dialect // for the migration history table
	dollarArgs bool          // placeholders are $1, $2... instead of ?
}

var (
	sqliteDialect   = &dialect{name: "sqlite", goose: goose.DialectSQLite3}
	postgresDialect = &dialect{name: "postgres", goose: goose.DialectPostgres, dollarArgs: true}
)

// IsURL reports whether state names a PostgreSQL database rather than a file.
func IsURL(state string) bool {
	return strings.HasPrefix(state, "postgres://") || strings.HasPrefix(state, "postgresql://")
}

// bind rewrites the "?" placeholders of q for the dialect. Our queries never
// hold a "?" inside a string literal.
func (d *dialect) bind(q string) string {
	if !d.dollarArgs {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isUnique reports a primary-key or unique violation.
func (d *dialect) isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// openSQLite opens (creating if needed, private) the state file. fresh
// reports that it did not exist.
func openSQLite(path string) (db *sql.DB, fresh bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("state dir: %w", err)
	}
	_, statErr := os.Stat(path)
	fresh = os.IsNotExist(statErr)
	if !fresh {
		if err := checkPrivate(path); err != nil {
			return nil, false, fmt.Errorf("state: %w", err)
		}
	} else {
		// Create the file private before SQLite opens it: SQLite gives the
		// -wal and -shm files the mode of the database file, and they hold
		// the same password hashes.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("create state %s: %w", path, err)
		}
		f.Close()
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // a transaction takes the write lock at BEGIN
	db, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, false, fmt.Errorf("open state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; transactions serialize in-process
	return db, fresh, nil
}

// openPostgres opens a bounded pool. The password comes from passwordFile,
// or from pgx's own PGPASSWORD / PGPASSFILE (~/.pgpass): never from the URL.
func openPostgres(rawURL, passwordFile string, maxConns int, tracer pgx.QueryTracer) (*sql.DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("state: not a valid postgres:// URL")
	}
	if _, set := u.User.Password(); set || u.Query().Has("password") {
		return nil, errors.New("state: the URL carries a password: put it in state_password_file or PGPASSWORD instead")
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if passwordFile != "" {
		if err := checkPrivate(passwordFile); err != nil {
			return nil, fmt.Errorf("state_password_file: %w", err)
		}
		pw, err := os.ReadFile(passwordFile)
		if err != nil {
			return nil, fmt.Errorf("state_password_file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(pw), "\r\n")
	}
	cfg.Tracer = tracer
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	return db, nil
}

// Redacted is a state location safe to log: a PostgreSQL URL without
// credentials or query parameters, or the file path.
func Redacted(state string) string {
	if !IsURL(state) {
		return state
	}
	u, err := url.Parse(state)
	if err != nil {
		return "postgres://(unparsable)"
	}
	u.User = url.User(u.User.Username())
	u.RawQuery = ""
	return u.String()
}
