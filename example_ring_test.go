package shmbuf_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/shmbuf/shmbuf"
)

// A ring carries a stream of records from any number of writers to any
// number of readers; every reader sees every record. Here both sides are
// in one process; normally they are not.
func ExampleCreateRing() {
	name := exampleName("ring")
	r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 64 << 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shmbuf.Remove(name)
	defer r.Close()

	// Attach the reader first: under the default policy (block) writers
	// then wait for it instead of overwriting anything.
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rd.Close()

	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, msg := range []string{"tick 1", "tick 2", "tick 3"} {
		w.Write([]byte(msg)) // one record each
	}
	w.Close() // the last writer's Close ends the stream

	for {
		rec, err := rd.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		// rec points into the shared ring: valid until the next call.
		fmt.Printf("%s\n", rec)
	}
	// Output:
	// tick 1
	// tick 2
	// tick 3
}

// Claim and Commit write a record in place, without a copy: the slice
// Claim returns is the record's space in the ring.
func ExampleWriter_Claim() {
	name := exampleName("claim")
	r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 4096})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shmbuf.Remove(name)
	defer r.Close()
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	defer rd.Close()
	w, _ := r.NewWriter(shmbuf.WriterOptions{})

	buf, err := w.Claim(5)
	if err != nil {
		fmt.Println(err)
		return
	}
	copy(buf, "frame")
	if err := w.Commit(); err != nil {
		fmt.Println(err)
		return
	}
	w.Close()

	// io.Copy uses WriteTo: the payloads go to the writer in batches,
	// small ones gathered into one Write, large ones straight from the
	// mapping.
	var out strings.Builder
	if _, err := io.Copy(&out, rd); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.String())
	// Output: frame
}

// Under PolicyOverwrite writers never wait, so a record may be overwritten
// while it is read. Next returns verified copies; NextInPlace returns the
// record where it lies, and Verify, after the record was used, says
// whether it was still whole.
func ExampleReader_NextInPlace() {
	name := exampleName("inplace")
	r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 4096, Policy: shmbuf.PolicyOverwrite})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shmbuf.Remove(name)
	defer r.Close()
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	defer rd.Close()
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	w.Write([]byte("price 101"))
	w.Close()

	for {
		rec, err := rd.NextInPlace(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err) // a *LostError: records were overwritten unread
			continue
		}
		sum := 0
		for _, c := range rec { // use the record in place
			sum += int(c)
		}
		if err := rd.Verify(); err != nil {
			fmt.Println(err) // overwritten while in use: discard sum
			continue
		}
		fmt.Printf("%s: %d\n", rec, sum)
	}
	// Output: price 101: 709
}
