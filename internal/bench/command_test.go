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
		{[]string{"--cpus", "99"}, "CPU 99 is not available"},
		{[]string{"--cpus", "0,x"}, "bad CPU list"},
		{[]string{"--placement", "near"}, `--placement "near": use usual, any or a band`},
		{[]string{"--placement", "300ns-90ns"}, `--placement "300ns-90ns"`},
		{[]string{"--cpus", "1-0"}, "bad CPU list"},
		{[]string{"--peers", "1,2"}, "--peers goes with --scaling"},
		{[]string{"--scaling", "--peers", "0"}, "bad process count"},
		{[]string{"--scaling", "--peers", "1,many"}, "bad process count"},
		{[]string{"--scaling", "--transports", "fifo"}, `unknown transport for --scaling "fifo"`},
		{[]string{"--scaling", "--sizes", "16"}, "below 24 bytes"},
		{[]string{"--setups", "5"}, "--setups goes with --setup"},
		{[]string{"--setup", "--setups", "0"}, "at least 1"},
		{[]string{"--setup", "--sizes", "64KiB"}, "one size of at most 4KiB"},
		{[]string{"--setup", "--sizes", "64,128"}, "one size of at most 4KiB"},
		{[]string{"--setup", "--transports", "carrier-pigeon"}, `unknown mechanism for --setup "carrier-pigeon"`},
		{[]string{"--setup", "--scaling", "--transports", "ring"}, "separate runs"},
		{[]string{"--setup", "--chart", filepath.Join(dir, "out.png")}, "--chart draws the transfer measurement"},
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
		"--phase", "10ms", "--placement", "any", "--json", js, "--chart", svg, "--quiet")
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
		Machine     map[string]any   `json:"machine"`
		Settings    map[string]any   `json:"settings"`
		Load1Before *float64         `json:"load1_before"`
		Load1After  *float64         `json:"load1_after"`
		Results     []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Load1Before == nil || rep.Load1After == nil || *rep.Load1Before < 0 {
		t.Errorf("no load average: %s", b[:min(len(b), 400)])
	}
	for _, k := range []string{"warmup", "reps", "phase_ns", "min_count"} {
		if _, ok := rep.Settings[k]; !ok {
			t.Errorf("settings lack %q", k)
		}
	}
	if !strings.Contains(out, "load average (1 min):") {
		t.Errorf("table lacks the load average:\n%s", out)
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
		if reps, ok := r["rep_msgs_per_s"].([]any); !ok || len(reps) != 2 {
			t.Errorf("rep_msgs_per_s %v, want 2 repetitions", r["rep_msgs_per_s"])
		}
		if reps, ok := r["rep_p50_ns"].([]any); !ok || len(reps) != 2 {
			t.Errorf("rep_p50_ns %v, want 2 repetitions", r["rep_p50_ns"])
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

// TestCommand_SetupAndScaling runs --setup and --scaling from the command
// line with tiny counts and checks the tables and the JSON fields.
func TestCommand_SetupAndScaling(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "s.json")
	out, _, err := runCommand(t, "--setup", "--setups", "3", "--transports", "pipe,ring", "--json", js, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"setup: create", "pipe", "ring", "p99", "setups: 3 measured"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup table lacks %q:\n%s", want, out)
		}
	}
	var rep map[string]any
	readJSON(t, js, &rep)
	setup, _ := rep["setup"].([]any)
	if len(setup) != 2 {
		t.Fatalf("setup: %v", rep["setup"])
	}
	for _, r := range setup {
		for _, k := range []string{"mechanism", "kind", "steps", "setups", "size", "p50_ns", "p99_ns", "note"} {
			if _, ok := r.(map[string]any)[k]; !ok {
				t.Errorf("setup result lacks %q: %v", k, r)
			}
		}
	}

	out, _, err = runCommand(t, "--scaling", "--peers", "1,2", "--transports", "pipe", "--reps", "1", "--warmup", "0",
		"--phase", "10ms", "--placement", "any", "--json", js, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fan-in 64B", "fan-out 64B", "vs 1:1", "1.00×", "a pipe per writer"} {
		if !strings.Contains(out, want) {
			t.Errorf("scaling table lacks %q:\n%s", want, out)
		}
	}
	rep = nil
	readJSON(t, js, &rep)
	scaling, _ := rep["scaling"].([]any)
	if len(scaling) != 4 {
		t.Fatalf("scaling: %v", rep["scaling"])
	}
	for _, r := range scaling {
		for _, k := range []string{"transport", "direction", "design", "writers", "readers", "size", "msgs_per_s",
			"msgs_per_s_spread", "vs_one", "p50_ns", "p99_ns", "processes", "cores", "oversubscribed", "note"} {
			if _, ok := r.(map[string]any)[k]; !ok {
				t.Errorf("scaling result lacks %q: %v", k, r)
			}
		}
	}
	if peers, _ := rep["settings"].(map[string]any)["peers"].([]any); len(peers) != 2 {
		t.Errorf("settings.peers %v", rep["settings"])
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
