package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCommand(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := NewCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

// TestCommand_BadInput checks that every kind of bad input is refused
// with a one-line error before anything is measured.
func TestCommand_BadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--transports", "pipe,carrier-pigeon"}, `unknown transport "carrier-pigeon"`},
		{[]string{"--sizes", "64,lots"}, `bad size "lots"`},
		{[]string{"--sizes", "4"}, "below the minimum of 8 bytes"},
		{[]string{"--sizes", "64MiB"}, "above the largest ring record"},
		{[]string{"--json", filepath.Join(dir, "no/such/dir/out.json")}, "cannot write"},
		{[]string{"--chart", filepath.Join(dir, "no/such/dir/out.png")}, "cannot write"},
		{[]string{"--chart", filepath.Join(dir, "out.gif")}, "must end in .svg or .png"},
		{[]string{"extra-arg"}, "unknown command"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, stderr, err := runCommand(t, append(c.args, "--quiet")...)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to mention %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if c.args[0] != "extra-arg" {
				var ue *UsageError
				if !errors.As(err, &ue) {
					t.Errorf("error %v is not a UsageError", err)
				}
			}
			if strings.Contains(stderr, "measurements") {
				t.Errorf("started measuring: %q", stderr)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
				t.Errorf("left files behind: %v", m)
			}
		})
	}
}

// TestCommand_SmallRun runs the command end to end on two transports and
// checks the table, the JSON and the chart files.
func TestCommand_SmallRun(t *testing.T) {
	dir := t.TempDir()
	js, svg, png := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg"), filepath.Join(dir, "r.png")
	out, _, err := runCommand(t, "--transports", "pipe,ring,posix-mq", "--sizes", "64,16KiB", "--reps", "2",
		"--phase", "10ms", "--json", js, "--chart", svg, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"64B records", "16KiB records", "pipe", "ring", "1.0×", "n/a", "msgsize_max"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	js0, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	b := js0
	var rep struct {
		Machine map[string]any   `json:"machine"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cpu", "cores", "kernel", "go"} {
		if _, ok := rep.Machine[k]; !ok {
			t.Errorf("machine lacks %q", k)
		}
	}
	if len(rep.Results) != 6 {
		t.Fatalf("%d results, want 6", len(rep.Results))
	}
	for _, r := range rep.Results {
		for _, k := range []string{"transport", "size", "msgs_per_s", "bytes_per_s", "p50_ns", "p99_ns", "p999_ns", "cpu_ns_per_msg", "note"} {
			if _, ok := r[k]; !ok {
				t.Errorf("result lacks %q: %v", k, r)
			}
		}
		if r["na"] == true {
			continue
		}
		if r["msgs_per_s"].(float64) <= 0 || r["p50_ns"].(float64) <= 0 || r["cpu_ns_per_msg"].(float64) <= 0 {
			t.Errorf("empty measurement: %v", r)
		}
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("chart: %v, %.40q", err, b)
	}
	// The PNG from the same report.
	var full Report
	if err := json.Unmarshal(js0, &full); err != nil {
		t.Fatal(err)
	}
	if err := WriteChart(png, &full); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("png chart: %v", err)
	}
}
