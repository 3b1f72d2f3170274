package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progressTick is how often the progress line is redrawn on a terminal,
// and progressLine how often it is printed as a line of its own when
// stderr is not one.
const (
	progressTick = 250 * time.Millisecond
	progressLine = time.Second
)

// progress is the pv-like line of --progress: the bytes moved so far, the
// time since the start and the average rate. On a terminal it is redrawn
// in place (a carriage return, no newline) and ends with a newline at
// stop; elsewhere (a log file) it is a line every second and a last one at
// stop. The command adds to bytes as data moves, one atomic add per
// write, and the meter's own goroutine does the printing.
type progress struct {
	bytes atomic.Int64

	w     io.Writer
	tty   bool
	verb  string // "read" or "written"
	start time.Time
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// startProgress starts a meter on w (stderr; tty says whether it is a
// terminal).
func startProgress(w io.Writer, tty bool, verb string) *progress {
	p := &progress{w: w, tty: tty, verb: verb, start: time.Now(), quit: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *progress) run() {
	defer close(p.done)
	every := progressLine
	if p.tty {
		every = progressTick
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.quit:
			p.draw(true)
			return
		case <-tick.C:
			p.draw(false)
		}
	}
}

// draw prints the line; last ends it.
func (p *progress) draw(last bool) {
	el := time.Since(p.start)
	n := p.bytes.Load()
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(n) / s
	}
	line := fmt.Sprintf("shmbuf: %s %s in %s [%s/s]", humanSize(n), p.verb, clock(el), humanSize(int64(rate)))
	switch {
	case p.tty && last:
		fmt.Fprintf(p.w, "\r%s\033[K\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r%s\033[K", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// clock renders d as pv does: H:MM:SS, with tenths under a minute.
func clock(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("0:00:%04.1f", d.Seconds())
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// stop prints the last line and ends the meter; a nil meter is off.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.quit) })
	<-p.done
}

// add counts n bytes moved; a nil meter is off.
func (p *progress) add(n int) {
	if p != nil {
		p.bytes.Add(int64(n))
	}
}

// isTerminalOut reports whether w is a terminal.
func isTerminalOut(w io.Writer) bool {
	r, ok := w.(io.Reader)
	return ok && isTerminal(r)
}
