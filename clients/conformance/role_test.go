package conformance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shmbuf/shmbuf"
)

// The test pattern, as clients/c/shmbuf_tool.c describes it: record k of
// writer id has length 8 + (k*7919 + id*31) % (maxlen-7), starts with id
// and k (little endian uint32) and continues with (id*131 + k*17 + i*13)
// mod 256 at byte i.
func patternLen(id, k uint32, maxlen uint64) uint64 {
	return 8 + (uint64(k)*7919+uint64(id)*31)%(maxlen-7)
}

func pattern(id, k uint32, maxlen uint64) []byte {
	n := patternLen(id, k, maxlen)
	p := make([]byte, n)
	binary.LittleEndian.PutUint32(p, id)
	binary.LittleEndian.PutUint32(p[4:], k)
	for i := uint64(8); i < n; i++ {
		p[i] = byte(uint64(id)*131 + uint64(k)*17 + i*13)
	}
	return p
}

// checker verifies records of the pattern: every byte, and each
// writer's order (reset by a loss, after which a reader cannot know whose
// records it lost).
type checker struct {
	maxlen  uint64
	next    map[uint32]uint32
	unknown map[uint32]bool
	// lostAny: a loss was reported, so a writer seen for the first time
	// may start anywhere.
	lostAny bool
	records uint64
	bytes   uint64
}

func newChecker(maxlen uint64) *checker {
	return &checker{maxlen: maxlen, next: map[uint32]uint32{}, unknown: map[uint32]bool{}}
}

func (c *checker) check(rec []byte) error {
	if len(rec) < 8 {
		return fmt.Errorf("record %d: %d bytes, shorter than the pattern", c.records, len(rec))
	}
	id, k := binary.LittleEndian.Uint32(rec), binary.LittleEndian.Uint32(rec[4:])
	if !bytes.Equal(rec, pattern(id, k, c.maxlen)) {
		return fmt.Errorf("record %d (writer %d record %d, %d bytes): bytes differ from the pattern", c.records, id, k, len(rec))
	}
	_, seen := c.next[id]
	if !c.unknown[id] && (seen || !c.lostAny) && k != c.next[id] {
		return fmt.Errorf("writer %d: record %d, want %d", id, k, c.next[id])
	}
	c.unknown[id] = false
	c.next[id] = k + 1
	c.records++
	c.bytes += uint64(len(rec))
	return nil
}

func (c *checker) lost() {
	c.lostAny = true
	for id := range c.next {
		c.unknown[id] = true
	}
}

func (c *checker) writers() string {
	ids := make([]int, 0, len(c.next))
	for id := range c.next {
		if !c.unknown[id] {
			ids = append(ids, int(id))
		}
	}
	sort.Ints(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d", id, c.next[uint32(id)])
	}
	return b.String()
}

// runRole is the Go side of the roles (see shmbuf_tool.c for the
// commands and their output).
func runRole(args []string) int {
	if err := role(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func opts(args []string) (pos []string, o map[string]string) {
	o = map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			o[k] = v
		} else if a == "gate" || a == "hang" {
			o[a] = ""
		} else {
			pos = append(pos, a)
		}
	}
	return pos, o
}

// waitOf maps the tool's wait words to strategies, as the CLI does.
func waitOf(s string) shmbuf.WaitStrategy {
	switch s {
	case "spin":
		return shmbuf.WaitSpin
	case "block":
		return shmbuf.WaitBlock
	}
	return shmbuf.WaitAdaptive
}

// policyOf maps the tool's policy words to policies, as the CLI does.
func policyOf(s string) (shmbuf.Policy, error) {
	switch s {
	case "block":
		return shmbuf.PolicyBlock, nil
	case "overwrite":
		return shmbuf.PolicyOverwrite, nil
	}
	return 0, fmt.Errorf("unknown policy %q", s)
}

func role(args []string) error {
	cmd, addr := args[0], args[1]
	pos, o := opts(args[2:])
	num := func(i int) uint64 { n, _ := strconv.ParseUint(pos[i], 10, 64); return n }
	switch cmd {
	case "create-ring":
		p, err := policyOf(pos[1])
		if err != nil {
			return err
		}
		r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: int64(num(0)), Policy: p})
		if err != nil {
			return err
		}
		return r.Close()
	case "create-snapshot":
		s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: int64(num(0))})
		if err != nil {
			return err
		}
		return s.Close()
	case "snap-publish":
		s, err := shmbuf.OpenSnapshot(addr)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.Publish([]byte(pos[0]))
	case "snap-load":
		s, err := shmbuf.OpenSnapshot(addr)
		if err != nil {
			return err
		}
		defer s.Close()
		v, _, err := s.Load(nil)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(v)
		return err
	case "write":
		return roleWrite(addr, uint32(num(0)), num(1), num(2), o)
	case "read":
		return roleRead(addr, o, false)
	case "observe":
		return roleRead(addr, o, true)
	}
	return fmt.Errorf("unknown role %q", cmd)
}

func roleWrite(addr string, id uint32, count, maxlen uint64, o map[string]string) error {
	r, err := shmbuf.OpenRing(addr)
	if err != nil {
		return err
	}
	defer r.Close()
	maxlen = min(maxlen, uint64(r.MaxRecord()))
	w, err := r.NewWriter(shmbuf.WriterOptions{Wait: waitOf(o["wait"])})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	if _, ok := o["gate"]; ok {
		var b [1]byte
		os.Stdin.Read(b[:])
	}
	for k := uint64(0); k < count; k++ {
		rec := pattern(id, uint32(k), maxlen)
		if k%2 == 1 {
			buf, err := w.Claim(len(rec))
			if err != nil {
				return err
			}
			copy(buf, rec)
			err = w.Commit()
			if err != nil {
				return err
			}
		} else if _, err := w.Write(rec); err != nil {
			return err
		}
	}
	if _, ok := o["hang"]; ok {
		if _, err := w.Claim(8); err != nil {
			return err
		}
		fmt.Println("hung")
		for {
			time.Sleep(time.Hour)
		}
	}
	return w.Close()
}

// roleRead reads the ring to its end with a Reader, or (observe) with an
// Observer on the ring opened read-only, and prints the summary line.
func roleRead(addr string, o map[string]string, observe bool) error {
	open := shmbuf.OpenRing
	if observe {
		open = shmbuf.OpenRingReadOnly
	}
	r, err := open(addr)
	if err != nil {
		return err
	}
	defer r.Close()
	maxlen := uint64(r.MaxRecord())
	if m, err := strconv.ParseUint(o["maxlen"], 10, 64); err == nil {
		maxlen = m
	}
	var rd interface {
		Next(context.Context) ([]byte, error)
		Close() error
	}
	if observe {
		rd, err = r.NewObserver(shmbuf.ObserverOptions{Wait: waitOf(o["wait"])})
	} else {
		rd, err = r.NewReader(shmbuf.ReaderOptions{Wait: waitOf(o["wait"])})
	}
	if err != nil {
		return err
	}
	defer rd.Close()
	fmt.Println("ready")
	ctx := context.Background()
	if ms, err := strconv.Atoi(o["timeout-ms"]); err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	c := newChecker(maxlen)
	var lostR, lostB uint64
	end := "?"
	var failed error
	for {
		rec, err := rd.Next(ctx)
		var lost *shmbuf.LostError
		switch {
		case err == nil:
			if failed = c.check(rec); failed == nil {
				continue
			}
		case errors.As(err, &lost):
			lostR += lost.Records
			lostB += lost.Bytes
			c.lost()
			continue
		case err == io.EOF:
			end = "eof"
		case errors.Is(err, shmbuf.ErrWriterLost):
			end = "writer-lost"
		case errors.Is(err, context.DeadlineExceeded):
			end = "timeout"
		case errors.Is(err, shmbuf.ErrCorrupt):
			end = "corrupt"
		default:
			end = "error"
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		break
	}
	fmt.Printf("records %d bytes %d lost %d %d end %s writers %s\n", c.records, c.bytes, lostR, lostB, end, c.writers())
	return failed
}
