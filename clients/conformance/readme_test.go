package conformance_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf/internal/testenv"
)

// TestReadmeExamples runs the C writer and the Python reader of README.md's
// "C and Python" section as the section's commands do, with the library
// built here and a unique name in place of "demo".
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	python := testenv.Python(t)
	dir := cBuild(t)
	readme, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## C and Python\n")
	if !ok {
		t.Fatal(`README.md has no "C and Python" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := map[string]string{}
	for _, part := range strings.Split(section, "\n```")[1:] {
		lang, body, _ := strings.Cut(part, "\n")
		if lang != "" {
			blocks[lang] = body
		}
	}
	if blocks["c"] == "" || blocks["python"] == "" || !strings.Contains(blocks["bash"], "cc -Iclients/c writer.c") {
		t.Fatalf("README.md's section lacks its C program, Python program or commands: %q", section)
	}
	name := uniqueName(t, "readme")
	t.Cleanup(func() { os.Remove("/dev/shm/" + name + "-status") })
	work := t.TempDir()
	src := strings.ReplaceAll(blocks["c"], `"demo"`, `"`+name+`"`)
	py := strings.ReplaceAll(blocks["python"], `"demo`, `"`+name)
	if err := os.WriteFile(filepath.Join(work, "writer.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "reader.py"), []byte(py), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(c *exec.Cmd) string {
		t.Helper()
		c.Dir = work
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.Args, err, out)
		}
		return string(out)
	}
	run(exec.Command("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I"+filepath.Join(root(t), "clients", "c"), "writer.c", filepath.Join(dir, "libshmbuf.a"), "-o", "writer"))
	run(exec.Command("./writer"))
	c := exec.Command(python, "reader.py")
	c.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root(t), "clients", "python"), "SHMBUF_LIB="+filepath.Join(dir, "libshmbuf.so"))
	got := run(c)
	want := "hello 0 from C\nhello 1 from C\nhello 2 from C\nready\n"
	if got != want {
		t.Fatalf("the README's programs printed %q, want %q", got, want)
	}
}
