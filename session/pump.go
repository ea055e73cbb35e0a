// Pumping one session channel between the client and the backend.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/recording"
)

func (p *pump) run(ctx context.Context, client *ssh.Client, pty *ptyReq, args string) (exitStatus, string) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.ctx, p.cancel = ctx, cancel
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	sess, err := client.NewSession()
	if err != nil {
		return p.failStart("the backend refused a session", err)
	}
	defer sess.Close()
	if pty != nil {
		if ok, err := sess.SendRequest("pty-req", true, p.r.PtyReq); err != nil || !ok {
			return p.failStart("the backend refused a terminal", err)
		}
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderr, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		return p.failStart("internal error", err)
	}
	if args == "" {
		err = sess.Shell()
	} else {
		err = sess.Start(args)
	}
	if err != nil {
		return p.failStart("the backend refused the command", err)
	}
	reply(p.r.Exec, true)

	ch := p.r.Channel
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // backend stdout → client, recorded
		defer wg.Done()
		p.copy(ch, stdout, p.outputRec, &p.down)
	}()
	go func() { // backend stderr → client, recorded as output
		defer wg.Done()
		p.copy(ch.Stderr(), stderr, p.outputRec, &p.down)
	}()
	go func() { // client → backend; EOF passes on. Ends when the channel closes.
		p.copy(stdin, ch, p.inputRec, &p.up)
		stdin.Close()
	}()
	go p.requests(ctx, sess)
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-ctx.Done():
		client.Close()
		<-waitDone
	}
	werr := sess.Wait()
	var st exitStatus
	var ee *ssh.ExitError
	switch {
	case werr == nil:
		st = exitStatus{ok: true}
	case errors.As(werr, &ee):
		st = exitStatus{ok: true, code: uint32(ee.ExitStatus()), signal: ee.Signal()}
	}
	reason := "closed"
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		st = exitStatus{} // ended by the bastion: not the command's own status
		reason = "server: " + cause.Error()
		io.WriteString(ch.Stderr(), lineEnds("\nbastion: session ended: "+cause.Error()+"\n", pty != nil))
	} else if !st.ok {
		reason = "backend: no exit status"
	}
	return st, reason
}

func (p *pump) failStart(msg string, err error) (exitStatus, string) {
	reply(p.r.Exec, true)
	io.WriteString(p.r.Channel.Stderr(), lineEnds("bastion: "+msg+"\n", p.r.PtyReq != nil))
	detail := msg
	if err != nil {
		detail += ": " + err.Error()
	}
	return exitStatus{}, "backend: " + detail
}

// copy moves src to dst, recording and counting what passes.
func (p *pump) copy(dst io.Writer, src io.Reader, rec func([]byte), n *counter) {
	buf := make([]byte, 32<<10)
	for {
		m, err := src.Read(buf)
		if m > 0 {
			p.r.Touch()
			rec(buf[:m])
			if p.ctx.Err() != nil { // ended (size cap, recording failure, revocation): pass nothing more
				return
			}
			if _, werr := dst.Write(buf[:m]); werr != nil {
				p.cancel(errors.New("client gone"))
				return
			}
			n.Add(m)
		}
		if err != nil {
			return
		}
	}
}

func (p *pump) outputRec(b []byte) {
	if p.rec != nil {
		p.recorded(p.rec.Output(b))
	}
}

func (p *pump) inputRec(b []byte) {
	if p.rec != nil && p.cfg.RecordInput {
		p.recorded(p.rec.Input(b))
	}
}

// recorded applies the configured policy to a recording error, once.
func (p *pump) recorded(err error) {
	if err == nil {
		return
	}
	p.once.Do(func() {
		capped := errors.Is(err, recording.ErrCapped)
		end := (capped && p.cfg.OnMaxSize == "end") || (!capped && p.cfg.OnFailure == "refuse")
		f := map[string]string{"session_id": p.sid, "reason": err.Error(), "action": "continue unrecorded"}
		if end {
			f["action"] = "end session"
		}
		p.r.Audit(audit.Event{Type: "session.recording", Result: "fail", Target: p.target.Name, Fields: f})
		p.svc.Log.Warn("recording stopped", "conn_id", p.r.ConnID, "session_id", p.sid, "err", err, "end", end)
		if end {
			p.cancel(fmt.Errorf("recording stopped: %w", err))
		}
	})
}

// winch is the RFC 4254 §6.7 payload.
type winch struct {
	Cols, Rows, PxW, PxH uint32
}

// requests passes window changes and signals on, and refuses everything
// else (agent and X11 forwarding, env, a second shell or exec, subsystems).
func (p *pump) requests(ctx context.Context, sess *ssh.Session) {
	for {
		select {
		case <-ctx.Done():
			return
		case req, ok := <-p.r.Requests:
			if !ok {
				return
			}
			switch req.Type {
			case "window-change":
				var w winch
				if ssh.Unmarshal(req.Payload, &w) == nil {
					sess.SendRequest(req.Type, false, req.Payload)
					if p.rec != nil {
						p.recorded(p.rec.Resize(clampSize(w.Cols, 80), clampSize(w.Rows, 24)))
					}
				}
				reply(req, true)
			case "signal":
				sess.SendRequest(req.Type, false, req.Payload)
				reply(req, true)
			default:
				if req.Type == "auth-agent-req@openssh.com" || req.Type == "x11-req" {
					p.svc.Log.Info("forwarding refused on a recorded session", "conn_id", p.r.ConnID, "request", req.Type)
				}
				reply(req, false)
			}
		}
	}
}
