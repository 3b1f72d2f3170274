package shmbuf_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// BenchmarkRing_Backend writes and reads records in one goroutine on a
// POSIX ring and on a System V one of the same size: the data path
// alone, which the backend does not change (both are shmem pages, mapped
// shared).
//
//	go test -run '^$' -bench 'Ring_Backend' -count 3 .
func BenchmarkRing_Backend(b *testing.B) {
	for _, size := range []int{64, 64 << 10} {
		for _, be := range []string{"posix", "sysv"} {
			b.Run(fmt.Sprintf("%s/%d", be, size), func(b *testing.B) {
				r, addr := benchBackendRing(b, be)
				defer shmbuf.Remove(addr)
				defer r.Close()
				w, _ := r.NewWriter(shmbuf.WriterOptions{})
				rd, _ := r.NewReader(shmbuf.ReaderOptions{})
				buf := make([]byte, size)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.Write(buf); err != nil {
						b.Fatal(err)
					}
					if _, err := rd.Next(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchBackendRing creates a 1 MiB ring on backend be (posix or sysv).
func benchBackendRing(b *testing.B, be string) (*shmbuf.Ring, string) {
	for range 16 {
		addr := uniqueName(b)
		if be == "sysv" {
			addr = fmt.Sprintf("sysv:%d", 0x5c000000+rand.IntN(0xffffff))
		}
		r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 1 << 20})
		if errors.Is(err, shmbuf.ErrExist) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		return r, addr
	}
	b.Fatal("no free System V key")
	return nil, ""
}
