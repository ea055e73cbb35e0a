// Tests for the schema history: a state file made by the first release opens
// and migrates without loss, a newer schema is refused, both dialects share
// one history, and Copy moves a state file into PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"bastion/oath"
)

// TestMigrateReleaseOneFile builds a state file exactly as the first release
// did (its schema, no migration table), with a TOTP user in the middle of a
// lockout and a pending user with a token, then opens it.
func TestMigrateReleaseOneFile(t *testing.T) {
	p := newPaths(t)
	if err := os.MkdirAll(filepath.Dir(p.state), 0o700); err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile("testdata/release1_schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	key, err := loadOrCreateKey(p.key, true)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("12345678901234567890")
	sealed, err := key.seal("alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+p.state)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		string(schema),
		`INSERT INTO meta(k, v) VALUES('key_check', '` + key.check + `')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO users(name, password_hash, groups_csv, keys, otp_kind, otp_secret, otp_digits,
		otp_period, otp_window, hotp_counter, totp_last_step, failures, locked_until, created_at, enroll_until,
		enroll_token, last_login, last_source) VALUES('alice', '$argon2id$h', 'ops,dba', 'ssh-ed25519 AAAA a@x', 'totp', ?,
		6, 30, 1, 0, 59000000, 2, ?, ?, 0, '', ?, '192.0.2.9:1')`, sealed, t0.Add(time.Minute).Unix(), t0.Unix(), t0.Unix()); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO users(name, password_hash, created_at, enroll_until, enroll_token) VALUES('bob', 'h', ?, ?, ?)`,
		t0.Unix(), t0.Add(time.Hour).Unix(), key.mac("enroll-token", "bob", "tok")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"abcde-fghjk", "mnpqr-stuvw"} {
		if _, err := raw.Exec(`INSERT INTO recovery(user, hash) VALUES('alice', ?)`, key.mac("recovery", "alice", oath.NormalizeRecovery(c))); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	if err := os.Chmod(p.state, 0o600); err != nil {
		t.Fatal(err)
	}

	s := open(t, p)
	if v := s.SchemaVersion(); v.Before != 0 || v.After != v.Known || v.Known < 1 {
		t.Errorf("versions %+v: want from 0 (no history) to the newest", v)
	}
	a := getUser(t, s, "alice")
	if a.OTP == nil || string(a.OTP.Params.Secret) != string(secret) || a.OTP.LastStep != 59000000 ||
		a.Failures != 2 || !a.LockedUntil.Equal(t0.Add(time.Minute)) || a.RecoveryLeft != 2 ||
		!slices.Equal(a.Groups, []string{"ops", "dba"}) || len(a.Keys) != 1 || !a.LastLogin.Equal(t0) || a.LastSource != "192.0.2.9:1" {
		t.Errorf("alice after migration: %+v", a)
	}
	if err := useRecovery(s, "alice", "abcde-fghjk"); !errors.Is(err, ErrLocked) {
		t.Errorf("alice's lock did not survive: %v", err)
	}
	if _, err := s.UseRecoveryCode(context.Background(), "alice", "abcde-fghjk", t0.Add(time.Hour), Lockout{}); err != nil {
		t.Errorf("alice's recovery code after the lock: %v", err)
	}
	if err := s.CheckEnrollToken(context.Background(), "bob", "tok"); err != nil {
		t.Errorf("bob's enrollment token: %v", err)
	}
	s.Close()
	// Opening again is a no-op.
	if v := open(t, p).SchemaVersion(); v.Before != v.Known || v.After != v.Known {
		t.Errorf("second open: %+v", v)
	}
}

func TestSchemaTooNewRefused(t *testing.T) { each(t, testSchemaTooNewRefused) }

func testSchemaTooNewRefused(t *testing.T, b backend) {
	p := b.newPaths(t)
	s := open(t, p)
	known := s.SchemaVersion().Known
	if _, err := s.db.Exec(`INSERT INTO goose_db_version(version_id, is_applied) VALUES(999, true)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := openErr(p)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{"version 999", "up to " + strconv.FormatInt(known, 10), "upgrade bastion"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestMigrationsOneHistory: every version exists in both dialects, with the same name.
func TestMigrationsOneHistory(t *testing.T) {
	names := func(dir string) []string {
		entries, err := fs.ReadDir(migrations, "migrations/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	lite, pg := names("sqlite"), names("postgres")
	if len(lite) == 0 || !slices.Equal(lite, pg) {
		t.Errorf("migrations differ: sqlite %v, postgres %v", lite, pg)
	}
}

// TestCopyFileToPostgres moves a state file into an empty database: the same
// users, secrets, codes, counters and locks; a second copy is refused unless forced.
func TestCopyFileToPostgres(t *testing.T) {
	ctx := context.Background()
	srcP := newPaths(t)
	src := open(t, srcP)
	addUser(t, src, "alice")
	if err := src.SetOTP(ctx, "alice", totp([]byte("12345678901234567890")), []string{"abcde-fghjk", "mnpqr-stuvw"}, false); err != nil {
		t.Fatal(err)
	}
	if err := useRecovery(src, "alice", "abcde-fghjk"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.RecordFailure(ctx, "alice", t0, Lockout{After: 5}); err != nil {
		t.Fatal(err)
	}
	if err := src.RecordSuccess(ctx, "alice", t0, "192.0.2.1:22"); err != nil {
		t.Fatal(err)
	}
	hotp := OTP{Params: oath.Params{Kind: oath.KindHOTP, Secret: []byte("abcdefghijabcdefghij"), Digits: 8, Window: 5}, Counter: 42}
	addUser(t, src, "carol")
	if err := src.SetOTP(ctx, "carol", hotp, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := src.RecordFailure(ctx, "carol", t0, Lockout{After: 1}); err != nil {
		t.Fatal(err)
	}
	if err := src.AddUser(ctx, NewUser{Name: "bob", PasswordHash: "h", Groups: []string{"ops"}, EnrollUntil: t0.Add(time.Hour), EnrollToken: "tok"}, t0); err != nil {
		t.Fatal(err)
	}

	dstP := postgresBackend.newPaths(t)
	dstP.key = srcP.key // the same state key, copied to the new host
	dst := open(t, dstP)
	users, codes, err := Copy(ctx, src, dst, false)
	if err != nil || users != 3 || codes != 2 {
		t.Fatalf("Copy: %d users, %d codes, %v; want 3, 2, nil", users, codes, err)
	}
	want, err := src.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(strip(got), strip(want)) {
		t.Errorf("copied users differ:\n got  %+v\n want %+v", strip(got), strip(want))
	}
	if err := useRecovery(dst, "alice", "abcde-fghjk"); !errors.Is(err, ErrRecoveryRejected) {
		t.Errorf("a used recovery code works after the copy: %v", err)
	}
	if err := useRecovery(dst, "alice", "mnpqr-stuvw"); err != nil {
		t.Errorf("an unused recovery code after the copy: %v", err)
	}
	if err := dst.CheckEnrollToken(ctx, "bob", "tok"); err != nil {
		t.Errorf("bob's token after the copy: %v", err)
	}

	if _, _, err := Copy(ctx, src, dst, false); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("second copy: %v, want ErrTargetNotEmpty", err)
	}
	if n, _, err := Copy(ctx, src, dst, true); err != nil || n != 3 {
		t.Errorf("forced copy: %d, %v", n, err)
	}
	if got := getUser(t, dst, "alice").RecoveryLeft; got != 1 {
		t.Errorf("forced copy: RecoveryLeft %d, want the source's 1 (the code spent on the target comes back)", got)
	}

	other := postgresBackend.newPaths(t) // a database with its own, different key
	if _, _, err := Copy(ctx, src, open(t, other), false); !errors.Is(err, ErrBadKey) {
		t.Errorf("copy between different keys: %v, want ErrBadKey", err)
	}
}

// strip drops what is not comparable across dialects (the sealed bytes are, but unexported).
func strip(us []*User) []User {
	var out []User
	for _, u := range us {
		c := *u
		c.sealed = nil
		c.CreatedAt, c.EnrollUntil, c.LastLogin, c.LockedUntil = c.CreatedAt.UTC(), c.EnrollUntil.UTC(), c.LastLogin.UTC(), c.LockedUntil.UTC()
		out = append(out, c)
	}
	return out
}
