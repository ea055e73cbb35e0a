// The optional metrics hooks: what the audit log does not already say.
package gateway

// Metrics receives the few measurements the gateway makes itself (package
// metrics implements it). Options.Metrics nil means none are taken.
type Metrics interface {
	// ConnOpened counts a new connection; authenticated is called once
	// the auth chain passed, closed when the connection ends.
	ConnOpened() (authenticated, closed func())
	// Refused counts a connection refused before authentication.
	Refused(reason error)
	// Dialing starts timing a dial to target; done ends it.
	Dialing(target string) (done func(error))
}

type noMetrics struct{}

func (noMetrics) ConnOpened() (func(), func()) { return func() {}, func() {} }
func (noMetrics) Refused(error)                {}
func (noMetrics) Dialing(string) func(error)   { return func(error) {} }

// OpenJumps is the number of jumps open now, including those still dialing.
func (s *Server) OpenJumps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.jumps {
		n += j
	}
	return n
}
