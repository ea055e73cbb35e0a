// Certificate serials for package ca.
package store

import (
	"context"
	"fmt"
)

// NextSerial returns a certificate serial never returned before by this
// state (across processes and replicas): one conditional UPDATE ... RETURNING.
func (s *Store) NextSerial(ctx context.Context) (uint64, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var n int64
	if err := s.scan(ctx, s.db, `UPDATE ca_serials SET last_serial = last_serial + 1 WHERE id = 1 RETURNING last_serial`, nil, &n); err != nil {
		return 0, fmt.Errorf("next certificate serial: %w", err)
	}
	return uint64(n), nil
}

// copySerial carries the serial counter over in Copy, never lowering it.
func copySerial(ctx context.Context, src, dst *Store, r runner) error {
	var n int64
	if err := src.scan(ctx, src.db, `SELECT last_serial FROM ca_serials WHERE id = 1`, nil, &n); err != nil {
		return fmt.Errorf("read source serial: %w", err)
	}
	_, err := dst.exec(ctx, r, `UPDATE ca_serials SET last_serial = ? WHERE id = 1 AND last_serial < ?`, n, n)
	return err
}
