// Backend host keys: the pinned key of each target, and fetching one for
// `bastion target trust`.
package session

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"bastion/config"
)

// KnownHosts is the file `bastion target trust` writes: OpenSSH known_hosts
// lines whose host field is the target name.
type KnownHosts struct {
	Path string
}

// ErrNoHostKey means a target has no pinned key: sessions to it are refused.
var ErrNoHostKey = errors.New("no pinned host key")

// Keys returns the keys pinned for t: its host_key, else the stored ones.
func (k KnownHosts) Keys(t config.Target) ([]ssh.PublicKey, error) {
	if key, err := t.PinnedKey(); err != nil || key != nil {
		if key == nil {
			return nil, err
		}
		return []ssh.PublicKey{key}, nil
	}
	raw, err := os.ReadFile(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoHostKey
	}
	if err != nil {
		return nil, fmt.Errorf("known hosts %s: %w", k.Path, err)
	}
	var keys []ssh.PublicKey
	for rest := raw; len(rest) > 0; {
		var hosts []string
		var key ssh.PublicKey
		_, hosts, key, _, rest, err = ssh.ParseKnownHosts(rest)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("known hosts %s: %w", k.Path, err)
		}
		if slices.Contains(hosts, t.Name) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, ErrNoHostKey
	}
	return keys, nil
}

// Trust stores key as the only key of target, replacing earlier ones.
func (k KnownHosts) Trust(target string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(k.Path), 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(k.Path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	var out bytes.Buffer
	if f, err := os.Open(k.Path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 0 && fields[0] == target {
				continue
			}
			out.WriteString(sc.Text() + "\n")
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	out.WriteString(knownHostsLine(target, key))
	tmp := k.Path + ".tmp"
	if err := os.WriteFile(tmp, out.Bytes(), 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return os.Rename(tmp, k.Path)
}

func knownHostsLine(target string, key ssh.PublicKey) string {
	return target + " " + string(ssh.MarshalAuthorizedKey(key))
}

// MismatchError is a backend that presented a key other than the pinned one.
type MismatchError struct {
	Target string
	Got    string   // SHA-256 fingerprint presented
	Want   []string // SHA-256 fingerprints pinned
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the host key of %s does not match the pinned key: it presented %s, expected %s",
		e.Target, e.Got, strings.Join(e.Want, " or "))
}

// pinned returns a host key callback that accepts only keys, and the host
// key algorithms to ask for so that the backend presents one of them.
func pinned(target string, keys []ssh.PublicKey, mismatch *error) (ssh.HostKeyCallback, []string) {
	var algos []string
	for _, k := range keys {
		switch k.Type() {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		default:
			algos = append(algos, k.Type())
		}
	}
	cb := func(_ string, _ net.Addr, got ssh.PublicKey) error {
		for _, k := range keys {
			if bytes.Equal(k.Marshal(), got.Marshal()) {
				return nil
			}
		}
		e := &MismatchError{Target: target, Got: ssh.FingerprintSHA256(got)}
		for _, k := range keys {
			e.Want = append(e.Want, ssh.FingerprintSHA256(k))
		}
		*mismatch = e
		return e
	}
	return cb, algos
}

// FetchHostKey connects to addr and returns the host key it presents,
// authenticating nothing.
func FetchHostKey(ctx context.Context, addr string, timeout time.Duration) (ssh.PublicKey, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(timeout))
	var got ssh.PublicKey
	errGot := errors.New("host key received")
	_, _, _, err = ssh.NewClientConn(nc, addr, &ssh.ClientConfig{
		User: "bastion-hostkey-probe",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			got = k
			return errGot
		},
	})
	if got != nil {
		return got, nil
	}
	return nil, fmt.Errorf("no host key from %s: %w", addr, err)
}
