// `bastion state`: schema migrations and moving a state to PostgreSQL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"bastion/config"
	"bastion/store"
)

// openStore opens the configured state (file or PostgreSQL) and migrates it.
func openStore(e *env) (*store.Store, error) { return openStoreConfig(e.cfg) }

func openStoreConfig(c *config.Config) (*store.Store, error) {
	return store.OpenWith(context.Background(), store.Options{
		State:        c.State,
		Key:          c.StateKey,
		PasswordFile: c.StatePasswordFile,
		MaxConns:     c.StateMaxConns,
		QueryTimeout: c.StateQueryTimeout,
	})
}

// logStateOpened says where the state is and what the migrations did.
func logStateOpened(log *slog.Logger, e *env, st *store.Store) {
	v := st.SchemaVersion()
	log.Info("state opened", "state", store.Redacted(e.cfg.State), "dialect", st.Dialect(),
		"schema_version", v.After, "migrated_from", v.Before)
}

func stateCmd(e *env, args []string) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "state: want migrate or copy"}
	}
	switch args[0] {
	case "migrate":
		if len(args) != 1 {
			return &exitError{code: 2, msg: "usage: bastion state migrate"}
		}
		st, err := openStore(e)
		if err != nil {
			return err
		}
		defer st.Close()
		v := st.SchemaVersion()
		fmt.Fprintf(e.stdout, "state %s (%s): schema version %d -> %d (newest this binary knows: %d)\n",
			store.Redacted(e.cfg.State), st.Dialect(), v.Before, v.After, v.Known)
		return nil
	case "copy":
		return stateCopy(e, args[1:])
	}
	return &exitError{code: 2, msg: fmt.Sprintf("state: unknown verb %q: want migrate or copy", args[0])}
}

// stateCopy moves every user from one state to another with the same key.
func stateCopy(e *env, args []string) error {
	fs := flag.NewFlagSet("state copy", flag.ContinueOnError)
	from := fs.String("from", "", "source state: an existing file (or postgres:// URL)")
	to := fs.String("to", "", "target state: a postgres:// URL (or a file)")
	force := fs.Bool("force", false, "replace the users already in the target")
	pass := fs.String("to-password-file", "", "file with the target's PostgreSQL password (default: state_password_file when --to is the configured state, else PGPASSWORD)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *from == "" || *to == "" {
		return &exitError{code: 2, msg: "usage: bastion state copy --from FILE.db --to postgres://USER@HOST/DB [--force] [--to-password-file FILE]"}
	}
	if !store.IsURL(*from) {
		if _, err := os.Stat(*from); err != nil {
			return fmt.Errorf("state copy: source: %w", err)
		}
	}
	if *pass == "" && *to == e.cfg.State {
		*pass = e.cfg.StatePasswordFile
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	open := func(state, passFile string) (*store.Store, error) {
		return store.OpenWith(ctx, store.Options{State: state, Key: e.cfg.StateKey, PasswordFile: passFile,
			MaxConns: 2, QueryTimeout: e.cfg.StateQueryTimeout})
	}
	src, err := open(*from, e.cfg.StatePasswordFile)
	if err != nil {
		return fmt.Errorf("state copy: source: %w", err)
	}
	defer src.Close()
	dst, err := open(*to, *pass)
	if err != nil {
		return fmt.Errorf("state copy: target: %w", err)
	}
	defer dst.Close()
	users, codes, err := store.Copy(ctx, src, dst, *force)
	if errors.Is(err, store.ErrTargetNotEmpty) {
		return fmt.Errorf("state copy: %s: %w", store.Redacted(*to), err)
	}
	if err != nil {
		return fmt.Errorf("state copy: %w", err)
	}
	fmt.Fprintf(e.stdout, "copied %d users and %d recovery codes from %s to %s\n", users, codes, store.Redacted(*from), store.Redacted(*to))
	return nil
}
