// /healthz: 200 only when every check passes, for load-balancer probes.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Check is one health condition; Fn returns nil when it holds.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// checkTimeout bounds each check, so a hung store cannot hang the probe.
const checkTimeout = 2 * time.Second

func healthHandler(checks []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		status := http.StatusOK
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			err := c.Fn(ctx)
			cancel()
			if err != nil {
				status = http.StatusServiceUnavailable
				// The error text stays on the loopback metrics listener; it
				// names a path or a store error, never a secret.
				fmt.Fprintf(&b, "%s: fail: %v\n", c.Name, err)
			} else {
				fmt.Fprintf(&b, "%s: ok\n", c.Name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		w.Write([]byte(b.String()))
	})
}

// AuditWritable holds when the audit log at path can be opened for
// appending (or, before its first record, created in its directory) and the
// last append through a did not fail.
func AuditWritable(path string, a *Auditor) Check {
	return Check{Name: "audit", Fn: func(context.Context) error {
		if a.Failing() {
			return errors.New("the last audit append failed")
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if errors.Is(err, os.ErrNotExist) {
			return writableDir(filepath.Dir(path))
		}
		if err != nil {
			return err
		}
		return f.Close()
	}}
}

// writableDir checks that a file can be created in dir.
func writableDir(dir string) error {
	f, err := os.CreateTemp(dir, ".healthz-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
