// Versioned schema migrations, embedded: one history (the same version
// numbers) for SQLite and PostgreSQL, each version written in both dialects.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// ErrSchemaTooNew reports a database migrated by a newer bastion.
var ErrSchemaTooNew = errors.New("the state schema is newer than this bastion")

// Version is where a database's schema stands.
type Version struct {
	Before, After, Known int64 // at open, after migrating, newest this binary knows
}

func provider(d *dialect, db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations/"+d.name)
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	if d == postgresDialect {
		// Replicas starting together: one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(d.goose, db, fsys, opts...)
}

// migrate brings the schema up to date. A schema newer than this binary is
// refused before anything is touched.
func migrate(ctx context.Context, d *dialect, db *sql.DB) (Version, error) {
	p, err := provider(d, db)
	if err != nil {
		return Version{}, err
	}
	var v Version
	for _, src := range p.ListSources() {
		v.Known = max(v.Known, src.Version)
	}
	if v.Before, err = p.GetDBVersion(ctx); err != nil {
		return v, fmt.Errorf("%w: read schema version: %w", ErrUnavailable, err)
	}
	if v.Before > v.Known {
		return v, fmt.Errorf("%w: it is at version %d, this binary knows up to %d: upgrade bastion (or run the newer one)",
			ErrSchemaTooNew, v.Before, v.Known)
	}
	if _, err := p.Up(ctx); err != nil {
		return v, fmt.Errorf("migrate schema: %w", err)
	}
	v.After, err = p.GetDBVersion(ctx)
	return v, err
}
