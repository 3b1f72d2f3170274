package shmbuf_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/shmbuf/shmbuf"
)

// exampleName returns a segment name private to this process, so that
// examples never touch a segment someone else uses.
func exampleName(what string) string {
	return "shmbuf-example-" + what + "-" + strconv.Itoa(os.Getpid())
}

// StoreRaw is `echo hello | shmbuf write`: it creates /dev/shm/NAME if
// needed and makes its content exactly the value, so cat shows it.
func ExampleStoreRaw() {
	name := exampleName("raw")
	if err := shmbuf.StoreRaw(name, []byte("hello\n"), 0); err != nil {
		fmt.Println(err)
		return
	}
	defer shmbuf.Remove(name)

	// Any program can read the file, as `cat /dev/shm/NAME` does.
	b, err := os.ReadFile(shmbuf.ShmDir + "/" + name)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("file: %q\n", b)

	// A reader takes a shared lock, so it never sees half of a store.
	r, err := shmbuf.OpenRaw(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	v, err := r.Load()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("Load: %q, fixed size: %v\n", v, r.Fixed())
	// Output:
	// file: "hello\n"
	// Load: "hello\n", fixed size: false
}

// A fixed region keeps its size: shorter values are zero-padded, and a
// value that does not fit is refused without changing anything.
func ExampleCreateRaw() {
	name := exampleName("fixed")
	r, err := shmbuf.CreateRaw(name, shmbuf.CreateOptions{Size: 16})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shmbuf.Remove(name)
	defer r.Close()

	r.Store([]byte("short"))
	b, _ := os.ReadFile(shmbuf.ShmDir + "/" + name)
	fmt.Printf("file: %q\n", b)

	err = r.Store([]byte("far too long for sixteen bytes"))
	fmt.Println("too large:", errors.Is(err, shmbuf.ErrTooLarge))

	v, _ := r.Load()
	fmt.Printf("Load: %q\n", v)
	// Output:
	// file: "short\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	// too large: true
	// Load: "short"
}

// A snapshot holds the latest of a stream of values; readers always get
// one whole value, and the writer never waits for them.
func ExampleCreateSnapshot() {
	name := exampleName("snapshot")
	w, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shmbuf.Remove(name)
	defer w.Close()

	for _, v := range []string{"12.1 °C", "12.4 °C", "12.3 °C"} {
		if err := w.Publish([]byte(v)); err != nil {
			fmt.Println(err)
			return
		}
	}

	// Usually another process.
	r, err := shmbuf.OpenSnapshot(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	v, err := r.Load(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (generation %d, capacity %d)\n", v, r.Generation(), r.Capacity())

	err = w.Publish(make([]byte, 65))
	fmt.Println("larger than capacity:", errors.Is(err, shmbuf.ErrTooLarge))
	// Output:
	// 12.3 °C (generation 3, capacity 64)
	// larger than capacity: true
}

// Load appends into dst: a reader polling a snapshot reuses one buffer and
// allocates nothing.
func ExampleSnapshot_Load() {
	name := exampleName("load")
	s, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: 4096})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shmbuf.Remove(name)
	defer s.Close()

	buf := make([]byte, 0, s.Capacity())
	for i := range 3 {
		s.Publish([]byte("frame " + strconv.Itoa(i)))
		v, err := s.Load(buf)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(v))
	}
	// Output:
	// frame 0
	// frame 1
	// frame 2
}

// Opening something that is not a snapshot as one fails with an error that
// says why.
func ExampleOpenSnapshot_notShmbuf() {
	name := exampleName("notsnap")
	shmbuf.StoreRaw(name, []byte("plain text"), 0)
	defer shmbuf.Remove(name)

	_, err := shmbuf.OpenSnapshot(name)
	fmt.Println(errors.Is(err, shmbuf.ErrNotShmbuf))
	// Output:
	// true
}

func ExampleParseAddress() {
	for _, s := range []string{"", "frames", "posix:frames", "file:/var/tmp/./seg", "sysv:4096", "sysv-id:7"} {
		a, err := shmbuf.ParseAddress(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-22q %-5v %s\n", s, a.Backend, a)
	}
	for _, s := range []string{"../etc/passwd", "tcp:host"} {
		_, err := shmbuf.ParseAddress(s)
		fmt.Println(err)
	}
	// Output:
	// ""                     posix posix:shared_buffer
	// "frames"               posix posix:frames
	// "posix:frames"         posix posix:frames
	// "file:/var/tmp/./seg"  file  file:/var/tmp/seg
	// "sysv:4096"            sysv  sysv:0x00001000
	// "sysv-id:7"            sysv  sysv-id:7
	// shmbuf: parse address "../etc/passwd": invalid name (name contains '/')
	// shmbuf: parse address "tcp:host": invalid address (unknown scheme "tcp" (want posix:, file:, sysv: or sysv-id:))
}

func ExampleParseSize() {
	for _, s := range []string{"4096", "64KiB", "4MiB", "1GiB", "12XB", "0"} {
		n, err := shmbuf.ParseSize(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, "=", n, "=", shmbuf.FormatSize(n))
	}
	// Output:
	// 4096 = 4096 = 4KiB
	// 64KiB = 65536 = 64KiB
	// 4MiB = 4194304 = 4MiB
	// 1GiB = 1073741824 = 1GiB
	// invalid size: "12XB" is not a size (try 4096, 64KiB, 4MiB, 1GiB)
	// invalid size: "0" must be greater than zero
}
