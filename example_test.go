package shmbuf_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

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
	v, _, err := r.Load(nil)
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

// Load appends into dst, so a reader polling a snapshot reuses one buffer
// and allocates nothing, and returns the value's generation, so it can
// tell a new value from the one it has, even an equal one.
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
	var seen uint64
	for _, frame := range []string{"frame 0", "frame 0", "frame 1"} {
		s.Publish([]byte(frame))
		v, gen, err := s.Load(buf)
		if err != nil {
			fmt.Println(err)
			return
		}
		if gen != seen {
			fmt.Println(gen, string(v))
			seen = gen
		}
		buf = v
	}
	// Output:
	// 1 frame 0
	// 2 frame 0
	// 3 frame 1
}

// Every error is an *Error that names the operation and the address, and
// holds a sentinel that errors.Is finds.
func ExampleError() {
	name := exampleName("notsnap")
	shmbuf.StoreRaw(name, []byte("plain text"), 0)
	defer shmbuf.Remove(name)

	_, err := shmbuf.OpenSnapshot(name)
	var e *shmbuf.Error
	if errors.As(err, &e) {
		fmt.Println(e.Op, e.Addr == "posix:"+name, errors.Is(err, shmbuf.ErrNotShmbuf))
	}
	// Output:
	// open true true
}

func ExampleParseAddress() {
	for _, s := range []string{"", "frames", "posix:frames", "file:/var/tmp/./seg", "sysv:4096", "sysv-id:7"} {
		a, err := shmbuf.ParseAddress(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-22q %-5v %s\n", s, a.Backend(), a)
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

// A name that holds a colon cannot be given bare (frames:raw would be
// scheme "frames"), but PosixAddress takes any valid name; the accessors
// give each part back.
func ExamplePosixAddress() {
	a, err := shmbuf.PosixAddress("frames:raw")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a, a.Backend(), a.Name(), a.Path())
	again, _ := shmbuf.ParseAddress(a.String())
	fmt.Println(again == a)

	k, _ := shmbuf.SysVKeyAddress(0x1234)
	fmt.Println(k, k.Key(), k.ID())
	// Output:
	// posix:frames:raw posix frames:raw /dev/shm/frames:raw
	// true
	// sysv:0x00001234 4660 -1
}

// A program that names its segments after itself can find the ones an
// earlier run left behind: nobody uses them and nobody has written them
// for a day. (Not run: what it prints depends on the machine.)
func ExampleUsages() {
	list, err := shmbuf.List()
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, u := range shmbuf.Usages(list) {
		if u != nil && u.Stale(24*time.Hour) && strings.HasPrefix(list[i].Addr.Name(), "myapp-") {
			fmt.Println("abandoned:", list[i].Addr, "last written", u.LastWrite)
		}
	}
}
