// The store's tests run against both dialects: a state file (SQLite) and a
// database in a throwaway PostgreSQL cluster started once for the package.
package store

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"bastion/store/pgtest"
)

var (
	pgOnce    sync.Once
	pgCluster *pgtest.Cluster
	pgErr     error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgCluster != nil {
		pgCluster.Remove()
	}
	os.Exit(code)
}

// backend is one dialect the table-driven tests run on.
type backend string

const (
	sqliteBackend   backend = "sqlite"
	postgresBackend backend = "postgres"
)

// each runs test once per dialect.
func each(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) { test(t, b) })
	}
}

// cluster returns the package's PostgreSQL cluster, starting it once.
func cluster(t *testing.T) *pgtest.Cluster {
	t.Helper()
	pgOnce.Do(func() { pgCluster, pgErr = pgtest.New() })
	if pgErr != nil {
		if os.Getenv("BASTION_E2E_REQUIRED") == "" {
			t.Skipf("PostgreSQL tests skipped: %v", pgErr)
		}
		t.Fatal(pgErr)
	}
	return pgCluster
}

// newPaths is a fresh state of the backend: a file path or a new database.
func (b backend) newPaths(t *testing.T) paths {
	if b == sqliteBackend {
		return newPaths(t)
	}
	c := cluster(t)
	dir := t.TempDir()
	return paths{dir: dir, state: c.NewDatabase(t), key: filepath.Join(dir, "state", "state.key"), pass: c.PasswordFile(t, dir)}
}

func (b backend) store(t *testing.T) *Store { return open(t, b.newPaths(t)) }
