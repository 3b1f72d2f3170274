package bench

import (
	"fmt"
	"os"
	"sync/atomic"
)

// Env is what a run gives its transports: unique names, a private
// temporary directory and the cleanup registry.
type Env struct {
	reg    *registry
	prefix string
	n      atomic.Int64
	dir    string
}

func newEnv(reg *registry) *Env {
	return &Env{reg: reg, prefix: fmt.Sprintf("shmbuf-bench-%d", os.Getpid())}
}

// Name returns a name no other resource of this or any other run uses.
func (e *Env) Name() string {
	return fmt.Sprintf("%s-%d", e.prefix, e.n.Add(1))
}

// TempDir returns the run's private directory (mode 0700), made on first
// use and removed by the registry.
func (e *Env) TempDir() (string, error) {
	if e.dir != "" {
		return e.dir, nil
	}
	d, err := os.MkdirTemp("", e.prefix+"-")
	if err != nil {
		return "", err
	}
	e.dir = d
	e.reg.add("dir "+d, func() error { return os.RemoveAll(d) })
	return d, nil
}

// own registers a channel's remove function and returns the channel.
func (e *Env) own(what string, ch *Channel, remove func() error) *Channel {
	ch.remove = e.reg.add(what, remove)
	return ch
}
