package conformance_test

import (
	"os"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// TestRawInterop stores raw values in each language and loads them in
// the others: a resizable segment the C library creates, one Go
// replaces, and a fixed region Go creates, whose length mark the C
// library keeps exact (a value with trailing NUL bytes comes back
// whole).
func TestRawInterop(t *testing.T) {
	t.Parallel()
	name := uniqueName(t, "raw")
	langC.run(t, "raw-store", name, "from c")
	py := langPython.session(t)
	for l, run := range map[lang]runner{langC: langC, langPython: py} {
		if got := run.run(t, "raw-load", name); got != "from c" {
			t.Fatalf("%s loaded %q, want %q", l, got, "from c")
		}
	}
	r, err := shmbuf.OpenRaw(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Load()
	r.Close()
	if err != nil || string(v) != "from c" {
		t.Fatalf("Go loaded %q, %v", v, err)
	}
	if err := shmbuf.StoreRaw(name, []byte("from go, longer"), 0); err != nil {
		t.Fatal(err)
	}
	py.run(t, "raw-store", name, "py")
	if got := langC.run(t, "raw-load", name); got != "py" {
		t.Fatalf("C loaded %q after Python's store, want %q", got, "py")
	}

	fixed := uniqueName(t, "raw-fixed")
	fr, err := shmbuf.CreateRaw(fixed, shmbuf.CreateOptions{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	langC.run(t, "raw-store", fixed, "abc")
	v, err = fr.Load()
	if err != nil || string(v) != "abc" {
		t.Fatalf("Go loaded %q, %v from the fixed region C wrote", v, err)
	}
	if exact, err := fr.Exact(); err != nil || !exact {
		t.Fatalf("Exact after C's store: %v, %v; want true (the C library keeps the length mark)", exact, err)
	}
	if err := fr.Store([]byte("go\x00\x00")); err != nil {
		t.Fatal(err)
	}
	if got := langC.run(t, "raw-load", fixed); got != "go\x00\x00" {
		t.Fatalf("C loaded %q, want the value with its NUL bytes", got)
	}
	if st, err := os.Stat("/dev/shm/" + fixed); err != nil || st.Size() != 64 {
		t.Fatalf("fixed region: %v, %v; want 64 bytes", st, err)
	}
}
