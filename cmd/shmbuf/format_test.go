package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// quoteCases are names with every kind of character quoteName treats
// apart: plain ones, shell metacharacters, single quotes, control
// characters, invalid UTF-8 and printable non-ASCII text.
var quoteCases = []string{
	"plain", "a-b_c.d:e,f+g%h@i]j", "a{b", "x#", "x~", "é", "日本",
	"a b", "a!", `a"b`, "a$b", "a&b", "a(b", "a)b", "a*b", "a;b", "a<b",
	"a=b", "a>b", "a[b", `a\b`, "a^b", "a`b", "a|b", "a?", "#x", "~x",
	"{", "}", "it's", "a b's", "'", "a'b c",
	"a\nb", "\nb", "a\tb", "x\x01y", "a\x7f", "\xff", "a\xffb", "é\n",
	"a'b\tc", "\n'", "a\x01'", "a\r\n",
}

// TestQuoteName_GNU compares quoteName with GNU ls
// --quoting-style=shell-escape (ls's default on a terminal) on files of
// those names.
func TestQuoteName_GNU(t *testing.T) {
	out, err := exec.Command("ls", "--version").Output()
	if err != nil || !bytes.Contains(out, []byte("GNU coreutils")) {
		testenv.Missing(t, "GNU ls")
	}
	dir := t.TempDir()
	for _, name := range quoteCases {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("ls", "-1", "--quoting-style=shell-escape", dir)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	out, err = cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	gnu := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	var ours []string
	for _, name := range quoteCases {
		ours = append(ours, quoteName(name))
	}
	for _, q := range ours {
		if !slices.Contains(gnu, q) {
			t.Errorf("quoteName gives %s, which GNU ls does not print; GNU ls printed:\n%s", q, out)
		}
	}
}

// TestQuoteName_Shell checks that every quoted name is one shell word
// that bash reads back as the name.
func TestQuoteName_Shell(t *testing.T) {
	testenv.Tool(t, "bash")
	for _, name := range quoteCases {
		q := quoteName(name)
		if strings.ContainsAny(q, "\n\r") {
			t.Errorf("quoteName(%q) = %q spans lines", name, q)
		}
		out, err := exec.Command("bash", "-c", "printf %s "+q).Output()
		if err != nil || string(out) != name {
			t.Errorf("bash reads quoteName(%q) = %s as %q (%v)", name, q, out, err)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1: "1", 1023: "1023", 1024: "1KiB", 1536: "1.5KiB", 1025: "1.1KiB",
		10240: "10KiB", 10241: "11KiB", 65536: "64KiB", 66000: "65KiB",
		1 << 20: "1MiB", 3<<20 + 1: "3.1MiB", 1 << 30: "1GiB", 1000 << 40: "1000TiB",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestStat_TextMatchesJSON checks that stat's text and JSON forms name
// the same fields, for each kind and backend: every row of the text is a
// member of the JSON (at any depth), and every member of the JSON is a
// row, but for the slot counts, which the text shows as writers 1/16.
func TestStat_TextMatchesJSON(t *testing.T) {
	name := uniqueName(t)
	key := fmt.Sprintf("sysv:0x5c%06x", os.Getpid()&0xffffff)
	t.Cleanup(func() { shmbuf.Remove(key) })
	plain := filepath.Join(shmbuf.ShmDir, name+"-plain")
	if err := os.WriteFile(plain, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(plain) })
	for _, args := range [][]string{
		{"write", name},
		{"create", name + "-s", "--kind", "snapshot", "--size", "64"},
		{"create", name + "-r", "--kind", "ring", "--size", "4KiB"},
		{"create", key, "--kind", "ring", "--size", "4KiB"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader("v\n"), &out, &errb); code != 0 {
			t.Fatalf("shmbuf %q: exit %d: %s", args, code, errb.String())
		}
	}
	t.Cleanup(func() { shmbuf.Remove(name + "-s"); shmbuf.Remove(name + "-r") })
	ring, err := shmbuf.OpenRing(name + "-r")
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	w, err := ring.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rd, err := ring.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	for _, addr := range []string{name, name + "-plain", name + "-s", name + "-r", key} {
		var text, js, errb bytes.Buffer
		if code := run([]string{"stat", addr}, nil, &text, &errb); code != 0 {
			t.Fatalf("stat %s: exit %d: %s", addr, code, errb.String())
		}
		if code := run([]string{"stat", "--json", addr}, nil, &js, &errb); code != 0 {
			t.Fatalf("stat --json %s: exit %d: %s", addr, code, errb.String())
		}
		var doc map[string]any
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
			t.Fatalf("stat --json %s: %v\n%s", addr, err, js.Bytes())
		}
		jsonKeys := map[string]bool{}
		collectKeys(doc, jsonKeys)
		rows := map[string]bool{}
		for line := range strings.Lines(text.String()) {
			if k, _, _ := strings.Cut(line, " "); k != "" {
				rows[k] = true
				if !jsonKeys[k] {
					t.Errorf("stat %s: text row %q is not a JSON field", addr, k)
				}
			}
		}
		for k := range jsonKeys {
			switch k {
			case "sysv", "raw", "snapshot", "ring", // objects: their members are rows
				"writer_slots", "reader_slots", // in the text as writers 1/16
				"slot", "pid", "alive", "cursor", "lag": // a peer's, written slot=0 pid=...
				continue
			}
			if !rows[k] {
				t.Errorf("stat %s: JSON field %q has no text row\n%s", addr, k, text.String())
			}
		}
		if doc["kind"] == "" || doc["kind"] == "-" {
			t.Errorf("stat --json %s: kind %q", addr, doc["kind"])
		}
	}
}

// collectKeys adds the member names of every object in v to keys.
func collectKeys(v any, keys map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, m := range v {
			keys[k] = true
			collectKeys(m, keys)
		}
	case []any:
		for _, m := range v {
			collectKeys(m, keys)
		}
	}
}
