package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// traceEnv names a file to which the coordinator appends one line per
// resource it makes and per peer it starts ("segment NAME", "peer PID"),
// so a test can check after an interrupted run that each one is gone.
const traceEnv = "SHMBUF_BENCH_TRACE"

// registry remembers how to undo everything a run made: segments, FIFOs,
// sockets, queues, temporary directories. Entries are removed as soon as a
// measurement is done with them; whatever is left when the run ends (or is
// interrupted) is undone by runAll, newest first.
type registry struct {
	mu      sync.Mutex
	next    int
	entries map[int]entry
	trace   io.Writer
}

type entry struct {
	what string
	undo func() error
}

func newRegistry() *registry {
	r := &registry{entries: map[int]entry{}}
	if p := os.Getenv(traceEnv); p != "" {
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			r.trace = f
		}
	}
	return r
}

// add registers undo for what and returns a function that runs it once
// and forgets it.
func (r *registry) add(what string, undo func() error) func() error {
	r.mu.Lock()
	id := r.next
	r.next++
	r.entries[id] = entry{what, undo}
	if r.trace != nil {
		fmt.Fprintln(r.trace, what)
	}
	r.mu.Unlock()
	return func() error {
		r.mu.Lock()
		e, ok := r.entries[id]
		delete(r.entries, id)
		r.mu.Unlock()
		if !ok {
			return nil
		}
		return e.undo()
	}
}

// note records a fact for the trace only (a peer's pid).
func (r *registry) note(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.trace != nil {
		fmt.Fprintln(r.trace, what)
	}
}

// runAll undoes every remaining entry, newest first.
func (r *registry) runAll() error {
	var errs []error
	for {
		r.mu.Lock()
		id := -1
		for k := range r.entries {
			if k > id {
				id = k
			}
		}
		if id < 0 {
			r.mu.Unlock()
			break
		}
		e := r.entries[id]
		delete(r.entries, id)
		r.mu.Unlock()
		if err := e.undo(); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", e.what, err))
		}
	}
	if c, ok := r.trace.(io.Closer); ok {
		c.Close()
	}
	return errors.Join(errs...)
}
