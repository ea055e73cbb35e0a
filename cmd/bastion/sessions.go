// `bastion sessions` and `bastion replay`: review recorded sessions. The
// audit log is the index (session.open/close); recordings are read only
// from inside the recording directory.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"bastion/audit"
	"bastion/recording"
	"bastion/session"
)

// sessionInfo is one session as the audit log tells it.
type sessionInfo struct {
	ID, User, Login, Target, Recording string
	Start                              time.Time
	Closed                             bool
	Duration, Exit, SHA256, Size       string
}

// sessionIndex pairs session.open with session.close records, oldest first.
func sessionIndex(recs []audit.Record) []*sessionInfo {
	var out []*sessionInfo
	byID := map[string]*sessionInfo{}
	for _, r := range recs {
		id := r.Fields["session_id"]
		switch r.Type {
		case "session.open":
			s := &sessionInfo{ID: id, User: r.User, Login: r.Fields["login"], Target: r.Target, Recording: r.Fields["recording"], Start: r.Time}
			byID[id] = s
			out = append(out, s)
		case "session.close":
			if s := byID[id]; s != nil {
				s.Closed, s.SHA256 = true, r.Fields["recording_sha256"]
				if ms, ok := r.Num["duration_ms"]; ok {
					s.Duration = (time.Duration(ms) * time.Millisecond).String()
				}
				if n, ok := r.Num["recording_size"]; ok {
					s.Size = fmt.Sprint(n)
				}
				if n, ok := r.Num["exit_status"]; ok {
					s.Exit = fmt.Sprint(n)
				}
				if sig := r.Fields["exit_signal"]; sig != "" {
					s.Exit = "SIG" + sig
				}
			}
		}
	}
	return out
}

func readSessions(e *env) ([]*sessionInfo, error) {
	recs, err := audit.ReadAll(e.cfg.AuditLog)
	if err != nil {
		return nil, err
	}
	return sessionIndex(recs), nil
}

// openRecording opens a recording by its audit-log name, inside the
// recording directory only.
func openRecording(e *env, name string) (*os.File, error) {
	if !session.ValidID(strings.TrimSuffix(name, ".cast")) || session.RecordingName(strings.TrimSuffix(name, ".cast")) != name {
		return nil, fmt.Errorf("no recording for this session")
	}
	root, err := os.OpenRoot(e.cfg.Recording.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(name)
}

func sessionsCmd(e *env, args []string) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	user := fs.String("user", "", "only this bastion user")
	target := fs.String("target", "", "only this target")
	since := fs.String("since", "", "started since: a duration ago (24h) or RFC 3339")
	grep := fs.String("grep", "", "only sessions whose output or input contains this text")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("sessions: unexpected %q", pos[0])}
	}
	from, err := parseWhen(*since, time.Now())
	if err != nil {
		return &exitError{code: 2, msg: "--since: " + err.Error()}
	}
	all, err := readSessions(e)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tLOGIN@TARGET\tSTART\tDURATION\tSIZE\tEXIT")
	for _, s := range all {
		if (*user != "" && s.User != *user) || (*target != "" && s.Target != *target) || s.Start.Before(from) {
			continue
		}
		if *grep != "" && !grepRecording(e, s, *grep) {
			continue
		}
		dur, exit := s.Duration, s.Exit
		if !s.Closed {
			dur, exit = "open", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s@%s\t%s\t%s\t%s\t%s\n", s.ID, s.User, s.Login, s.Target,
			s.Start.Local().Format("2006-01-02 15:04:05"), dur, orDash(s.Size), orDash(exit))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func grepRecording(e *env, s *sessionInfo, text string) bool {
	f, err := openRecording(e, s.Recording)
	if err != nil {
		return false
	}
	defer f.Close()
	rd, err := recording.NewReader(f)
	if err != nil {
		return false
	}
	ok, _ := recording.Grep(rd, text)
	return ok
}

func replayCmd(e *env, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	speed := fs.Float64("speed", 1, "play this many times faster")
	idle := fs.Duration("idle-limit", 0, "cap every pause at this (e.g. 2s)")
	follow := fs.Bool("follow", false, "watch a session that is still running")
	text := fs.Bool("text", false, "print a plain-text transcript (escape sequences removed)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !session.ValidID(pos[0]) {
		return &exitError{code: 2, msg: "replay: want one session ID (see `bastion sessions`)"}
	}
	if *speed <= 0 {
		return &exitError{code: 2, msg: "--speed must be > 0"}
	}
	all, err := readSessions(e)
	if err != nil {
		return err
	}
	var s *sessionInfo
	for _, c := range all {
		if c.ID == pos[0] {
			s = c
		}
	}
	if s == nil {
		return &exitError{code: 1, msg: fmt.Sprintf("no session %s in the audit log", pos[0])}
	}
	if !*follow {
		if err := checkRecording(e, s); err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
	}
	f, err := openRecording(e, s.Recording)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var src io.Reader = f
	if *follow {
		src = &recording.Follower{R: f, Ctx: ctx, Done: closedCheck(e, s.ID)}
	}
	rd, err := recording.NewReader(src)
	if err != nil {
		return err
	}
	if *text {
		return recording.Transcript(rd, e.stdout)
	}
	opt := recording.PlayOptions{Speed: *speed, IdleLimit: *idle}
	if *follow {
		opt.Speed = 1e9 // what is already there at once; then as it comes
	}
	err = recording.Play(ctx, rd, e.stdout, opt)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// checkRecording compares the file with the SHA-256 and size its
// session.close record holds.
func checkRecording(e *env, s *sessionInfo) error {
	if !s.Closed {
		fmt.Fprintf(e.stderr, "bastion: session %s has no session.close record (still running, or the bastion stopped abruptly): the recording may end early\n", s.ID)
		return nil
	}
	f, err := openRecording(e, s.Recording)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 || fmt.Sprint(n) != s.Size {
		return fmt.Errorf("recording of session %s does not match the audit log (sha256 %s, %d bytes; audit: %s, %s bytes): it was altered", s.ID, got, n, s.SHA256, s.Size)
	}
	return nil
}

// closedCheck reports, at most once a second, whether session id has closed.
func closedCheck(e *env, id string) func() bool {
	var last time.Time
	closed := false
	return func() bool {
		if closed || time.Since(last) < time.Second {
			return closed
		}
		last = time.Now()
		if all, err := readSessions(e); err == nil {
			for _, s := range all {
				if s.ID == id && s.Closed {
					closed = true
				}
			}
		}
		return closed
	}
}
