// Package auditsyslog copies audit events to the local syslog socket
// (/dev/log, which journald and rsyslog read), so that they reach a site's
// SIEM. The hash-chained audit file stays the source of truth: a copy that
// cannot be sent within a short deadline is dropped and counted, and never
// holds up a login.
package auditsyslog

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bastion/audit"
)

// Tag is the syslog identifier of the copies (SYSLOG_IDENTIFIER in the journal).
const Tag = "bastion-audit"

const (
	facilityAuthpriv = 10 // RFC 5424 §6.2.1: security/authorization messages (private)
	severityWarning  = 4
	severityInfo     = 6
	maxMessage       = 8 << 10 // bytes of one datagram; longer messages are cut
	queueLen         = 1024
	sendTimeout      = time.Second
)

// Writer sends messages to one syslog socket from its own goroutine.
type Writer struct {
	path    string
	queue   chan []byte
	dropped atomic.Uint64
	closing sync.Once
	done    chan struct{}
	now     func() time.Time
}

// New starts a Writer for the unix datagram socket at path ("/dev/log").
// Nothing is dialled until the first message.
func New(path string) *Writer {
	w := &Writer{path: path, queue: make(chan []byte, queueLen), done: make(chan struct{}), now: time.Now}
	go w.run()
	return w
}

// Send queues a copy of e; written is the result of writing e to the audit
// file (a failure is said in the copy). It never blocks: with the queue
// full the copy is dropped and counted.
func (w *Writer) Send(e audit.Event, written error) {
	select {
	case w.queue <- Format(e, written, w.now(), os.Getpid()):
	default:
		w.dropped.Add(1)
	}
}

// Dropped is the number of copies that were not delivered.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Close sends what is queued (each message within its deadline) and stops.
func (w *Writer) Close() {
	w.closing.Do(func() { close(w.queue) })
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for msg := range w.queue {
		var err error
		for try := 0; try < 2; try++ { // a restarted journald means one reconnect
			if conn == nil {
				if conn, err = net.DialTimeout("unixgram", w.path, sendTimeout); err != nil {
					conn = nil
					continue
				}
			}
			conn.SetWriteDeadline(time.Now().Add(sendTimeout))
			if _, err = conn.Write(msg); err == nil {
				break
			}
			conn.Close()
			conn = nil
		}
		if err != nil {
			w.dropped.Add(1)
		}
	}
}

// Format renders e as a local syslog datagram (RFC 3164 form, as glibc's
// syslog(3) writes to /dev/log): "<PRI>Mmm dd hh:mm:ss bastion-audit[PID]:
// key=value ...", with type, result, user, source, target and conn_id first
// and the event's fields (text and numbers) after them in name order. Values with spaces,
// quotes, '=' or control characters are Go-quoted.
func Format(e audit.Event, written error, now time.Time, pid int) []byte {
	sev := severityInfo
	if e.Result == "fail" || written != nil {
		sev = severityWarning
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>%s %s[%d]:", facilityAuthpriv*8+sev, now.Format(time.Stamp), Tag, pid)
	kv := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + "=" + quote(v))
		}
	}
	kv("type", e.Type)
	kv("result", e.Result)
	kv("user", e.User)
	kv("source", e.Source)
	kv("target", e.Target)
	kv("conn_id", e.ConnID)
	if written != nil {
		kv("audit_file", "write failed")
	}
	fields := make(map[string]string, len(e.Fields)+len(e.Num))
	for k, v := range e.Fields {
		fields[k] = v
	}
	for k, n := range e.Num { // a key in both keeps the number, as in the file
		fields[k] = strconv.FormatInt(n, 10)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kv(quoteKey(k), fields[k])
	}
	out := b.String()
	if len(out) > maxMessage {
		out = strings.ToValidUTF8(out[:maxMessage-len(" [truncated]")], "") + " [truncated]"
	}
	return []byte(out)
}

func quote(v string) string {
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '"' || r == '=' || r == 0x7f || r == '\uFFFD' }) {
		return strconv.Quote(v)
	}
	return v
}

// quoteKey keeps field names to [A-Za-z0-9_.-]; anything else becomes '_'.
func quoteKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, k)
}

// Appender writes each event to Next (the audit file) and then sends a copy.
type Appender struct {
	Next interface{ Append(audit.Event) error }
	W    *Writer
}

// Append writes e to the file, then copies it to syslog with the result.
func (a Appender) Append(e audit.Event) error {
	err := a.Next.Append(e)
	a.W.Send(e, err)
	return err
}
