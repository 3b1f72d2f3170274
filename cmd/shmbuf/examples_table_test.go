package main

// exampleRuns runs each example of README.md and of the help; see
// TestExamples. Checks read example.out (the example's stdout) and look
// at the segments it made.
var exampleRuns = map[string]exampleRun{
	// shmbuf --help and the README's workflow.
	`echo hello | shmbuf write        # creates /dev/shm/shared_buffer`: {
		check: `[ "$(cat /dev/shm/shared_buffer)" = hello ]`},
	`cat /dev/shm/shared_buffer       # hello`: {
		setup: `echo hello | shmbuf write`,
		check: `[ "$(cat example.out)" = hello ]`},
	`shmbuf read                      # hello`: {
		setup: `echo hello | shmbuf write`,
		check: `[ "$(cat example.out)" = hello ]`},
	`shmbuf rm shared_buffer`: {
		setup: `echo hello | shmbuf write`,
		check: `[ ! -e /dev/shm/shared_buffer ]`},
	`echo "hello" | shmbuf write      # creates or replaces /dev/shm/shared_buffer`: {
		setup: `echo old | shmbuf write`,
		check: `[ "$(cat /dev/shm/shared_buffer)" = hello ]`},
	`cat /dev/shm/shared_buffer       # prints: hello`: {
		setup: `echo hello | shmbuf write`,
		check: `[ "$(cat example.out)" = hello ]`},
	`shmbuf read                      # prints: hello`: {
		setup: `echo hello | shmbuf write`,
		check: `[ "$(cat example.out)" = hello ]`},
	`shmbuf rm shared_buffer          # or: rm /dev/shm/shared_buffer`: {
		setup: `echo hello | shmbuf write`,
		check: `[ ! -e /dev/shm/shared_buffer ]`},
	`shmbuf write`: { // README's transcript
		bounded: `printf 'first\nsecond\n' | script -qec 'shmbuf write' /dev/null`,
		why:     "it needs a terminal: script(1) gives it one, and two typed lines",
		check: `grep -qF "$(sed -n 1p transcript.txt)" example.out
			[ "$(cat /dev/shm/shared_buffer)" = second ]`},

	// write --help.
	`echo hello | shmbuf write              # /dev/shm/shared_buffer: "hello\n"`: {
		check: `printf 'hello\n' | cmp - /dev/shm/shared_buffer`},
	`shmbuf write notes < notes.txt`: {
		setup: `printf 'buy milk\n' > notes.txt`,
		check: `cmp notes.txt /dev/shm/notes`},
	`date | shmbuf write --mode 0644 clock   # readable by everyone`: {
		check: `[ "$(stat -c %a /dev/shm/clock)" = 644 ]`},
	`shmbuf write sysv-id:5 < frame.bin`: {
		setup: `sysvid 5; printf 'frame' > frame.bin`,
		check: `[ "$(shmbuf read sysv-id:5)" = frame ]`},
	`shmbuf write sysv:0x1234 --size 4KiB < frame.bin   # creates it, like ipcmk`: {
		setup: `printf 'frame' > frame.bin`,
		check: `grep -q '^Shared memory id: [0-9]*$' example.out
			ipcs -m | grep -q '^0x00001234 .* 4096 '
			[ "$(shmbuf read sysv:0x1234)" = frame ]`},
	`shmbuf write                            # a terminal: type lines, Ctrl-D ends`: {
		bounded: `printf 'first\nsecond\n' | script -qec 'shmbuf write' /dev/null`,
		why:     "it needs a terminal: script(1) gives it one, and two typed lines",
		check:   `[ "$(cat /dev/shm/shared_buffer)" = second ]`},
	`tail -f app.log | shmbuf write --kind ring logs    # one record per line`: {
		setup: `printf 'line 1\nline 2\n' > app.log`,
		bg:    true, // tail -f never ends: the sandbox ends it
		check: `waitfor '[ -e /dev/shm/logs ]'
			echo 'line 3' >> app.log
			[ "$(shmbuf read -f --count 3 logs)" = "$(printf 'line 1\nline 2\nline 3')" ]`},

	// read --help.
	`shmbuf read                     # /dev/shm/shared_buffer`: {
		setup: `echo hello | shmbuf write`,
		check: `[ "$(cat example.out)" = hello ]`},
	`shmbuf read sysv-id:5 | xxd`: {
		setup: `sysvid 5; printf 'hi' | shmbuf write sysv-id:5`,
		check: `grep -q '^00000000: 6869 ' example.out`},
	`shmbuf read -f status           # a snapshot: print each new value`: {
		setup: `shmbuf create status --kind snapshot --size 4KiB; echo v1 | shmbuf write status`,
		bg:    true,
		check: `waitfor 'grep -q v1 example.out'
			echo v2 | shmbuf write status
			waitfor 'grep -q v2 example.out'`},
	`shmbuf read -f --count 1 status # wait for a value, print it, exit`: {
		setup: `shmbuf create status --kind snapshot --size 4KiB; echo v1 | shmbuf write status`,
		check: `[ "$(cat example.out)" = v1 ]`},
	`shmbuf read -f logs             # a ring: every record, like tail -f`: {
		setup: `shmbuf create logs --kind ring --size 64KiB`,
		bg:    true,
		check: `echo one | shmbuf write logs
			echo two | shmbuf write logs
			waitfor '[ "$(cat example.out)" = "$(printf "one\ntwo")" ]'`},
	`shmbuf read --until-end frames | consumer  # until the stream ends`: {
		setup: `shmbuf create frames --kind ring --size 64KiB`,
		bg:    true,
		check: `waitfor 'shmbuf stat frames | grep -q "^readers *1/"'
			producer | shmbuf write frames
			wait
			[ "$(cat consumer.out)" = "$(producer)" ]`},
	`shmbuf read -f --from latest --wait spin ticks`: {
		setup: `shmbuf create ticks --kind ring --size 64KiB; echo old | shmbuf write ticks`,
		bg:    true,
		check: `waitfor 'shmbuf stat ticks | grep -q "^readers *1/"'
			echo new | shmbuf write ticks
			waitfor 'grep -q new example.out'
			! grep -q old example.out`},

	// create --help.
	`shmbuf create status --kind snapshot --size 4KiB`: {
		check: `shmbuf stat status | grep -q '^kind *snapshot$'`},
	`shmbuf create frame --kind raw --size 4MiB --mode 0644`: {
		check: `[ "$(stat -c '%s %a' /dev/shm/frame)" = '4194304 644' ]`},
	`shmbuf create sysv:0x1234 --kind raw --size 64KiB`: {
		check: `grep -q '^Shared memory id: ' example.out
			ipcs -m | grep -q '^0x00001234 .* 65536 '`},
	`shmbuf create frames --kind ring --size 4MiB --readers 4 --policy overwrite`: {
		check: `shmbuf stat frames | grep -q '^policy *overwrite$'
			shmbuf stat frames | grep -q '^readers *0/4$'`},
	`shmbuf create status --kind snapshot --size 64KiB --force   # replace`: {
		setup: `shmbuf create status --kind snapshot --size 4KiB`,
		check: `shmbuf stat status | grep -q '^capacity *64KiB$'`},

	// stat, ls and rm --help.
	`shmbuf stat shared_buffer`: {
		setup: `echo hello | shmbuf write`,
		check: `grep -q '^kind *raw$' example.out`},
	`shmbuf stat --json status | jq .snapshot.generation`: {
		setup: `shmbuf create status --kind snapshot --size 4KiB; echo v | shmbuf write status`,
		check: `[ "$(cat example.out)" = 1 ]`},
	`shmbuf stat --bytes sysv-id:5`: {
		setup: `sysvid 5`,
		check: `grep -q '^size *4096$' example.out`},
	`shmbuf ls`: {
		setup: `shmbuf create status --kind snapshot --size 4KiB`,
		check: `grep -q '^status *file *snapshot ' example.out`},
	`shmbuf ls --json | jq -r '.segments[] | select(.kind == "snapshot") | .name'`: {
		setup: `shmbuf create status --kind snapshot --size 4KiB; echo v | shmbuf write notes`,
		check: `[ "$(cat example.out)" = status ]`},
	`shmbuf rm frames status sysv-id:5`: {
		setup: `sysvid 5; shmbuf create frames --kind ring --size 4KiB; shmbuf create status --kind snapshot --size 64`,
		check: `[ ! -e /dev/shm/frames ] && [ ! -e /dev/shm/status ] && ! shmbuf stat sysv-id:5 2>/dev/null`},
	`shmbuf rm -f maybe-there`: {
		check: `[ ! -s example.err ]`},
	`shmbuf rm --stale`: {
		setup: `shmbuf create status --kind snapshot --size 64; echo v | shmbuf write notes
			echo v | shmbuf write old; touch -d '2 hours ago' /dev/shm/old /dev/shm/status`,
		check: `[ ! -e /dev/shm/status ] && [ ! -e /dev/shm/old ] && [ -e /dev/shm/notes ]
			grep -q '^removed posix:old (raw, stale, written 120m ago)$' example.out`},
	`shmbuf rm --stale --dry-run --older-than 10m`: {
		setup: `echo v | shmbuf write notes; echo v | shmbuf write old; touch -d '1 hour ago' /dev/shm/old`,
		check: `[ -e /dev/shm/old ] && [ -e /dev/shm/notes ]
			[ "$(cat example.out)" = 'would remove posix:old (raw, stale, written 60m ago)' ]`},
	`shmbuf rm --stale --match 'frames-*'`: {
		setup: `shmbuf create frames-1 --kind ring --size 4KiB; shmbuf create status --kind snapshot --size 64
			touch -d '2 hours ago' /dev/shm/frames-1 /dev/shm/status`,
		check: `[ ! -e /dev/shm/frames-1 ] && [ -e /dev/shm/status ]`},

	// bench --help: measurements take minutes as written; each runs with
	// one short repetition (and, where the example picks none, one size
	// and two transports), and --placement any: a test run has no use
	// for waiting on the host's placement of the cores (internal/bench
	// tests that gate).
	`shmbuf bench --quick`: {
		bounded: `shmbuf bench --quick --transports pipe,ring --reps 1 --warmup 0 --phase 2ms --placement any --quiet`,
		why:     "a measurement: bounded to one short repetition of two transports",
		check:   `grep -q '^ring ' example.out`},
	`shmbuf bench --transports pipe,pipe-buffered,ring --sizes 64,64KiB --cpus 0,1`: {
		bounded: `shmbuf bench --transports pipe,pipe-buffered,ring --sizes 64,64KiB --cpus 0,1 --reps 1 --warmup 0 --phase 2ms --placement any --quiet`,
		why:     "a measurement: bounded to one short repetition",
		check:   `grep -q '^pipe-buffered ' example.out`},
	`shmbuf bench --json results.json --chart results.png`: {
		bounded: `shmbuf bench --json results.json --chart results.png --transports pipe,ring --sizes 64 --reps 1 --warmup 0 --phase 2ms --placement any --quiet`,
		why:     "a measurement: bounded to one short repetition of one size and two transports",
		check:   `jq -e .results results.json > /dev/null && [ -s results.png ]`},
	`shmbuf bench --setup`: {
		bounded: `shmbuf bench --setup --setups 5 --quiet`,
		why:     "a measurement: bounded to five setups",
		check:   `grep -q '^ring ' example.out`},
	`shmbuf bench --scaling --peers 1,2,3`: {
		bounded: `shmbuf bench --scaling --peers 1,2,3 --transports ring --reps 1 --warmup 0 --phase 2ms --placement any --quiet`,
		why:     "a measurement: bounded to one short repetition of the ring",
		check:   `grep -q 'ring' example.out`},
	// bridge --help: the sandbox has no NATS server, so each bridge
	// starts, says it cannot reach the server yet and keeps trying (the
	// bridge's own tests run real servers).
	`shmbuf bridge logs nats://127.0.0.1:4222/app.logs   # ring -> NATS`: {
		setup: `shmbuf create logs --kind ring --size 64KiB`,
		bg:    true,
		check: `waitfor 'grep -q "cannot reach" example.err'`},
	`shmbuf bridge nats://127.0.0.1:4222/app.logs logs   # NATS -> ring`: {
		bg: true,
		check: `waitfor 'grep -q "cannot reach" example.err'
			[ -e /dev/shm/logs ]`},
	`shmbuf bridge frames nats:///cam.1 --jetstream CAM --stats=10s`: {
		setup: `shmbuf create frames --kind ring --size 64KiB`,
		bg:    true,
		check: `waitfor 'grep -q "cannot reach" example.err'`},
	`shmbuf bridge nats:///cam.1 frames --jetstream CAM --durable site2`: {
		bg: true,
		check: `waitfor 'grep -q "cannot reach" example.err'
			[ -e /dev/shm/frames ]`},
	`shmbuf version`: {
		check: `grep -q '^shmbuf version ' example.out`},

	// README: the first lines, installing, the library.
	`go build -o shmbuf ./cmd/shmbuf && echo hello | ./shmbuf write && cat /dev/shm/shared_buffer && ./shmbuf read && ./shmbuf rm shared_buffer`: {
		setup:      `copymodule src; cd src; rm -f shmbuf`,
		short:      `ln -s "$EXAMPLE_BIN/shmbuf" shmbuf && echo hello | ./shmbuf write && cat /dev/shm/shared_buffer && ./shmbuf read && ./shmbuf rm shared_buffer`,
		shortSetup: `mkdir src; cd src`,
		shortWhy:   "the build is the one go test just made of this module",
		check:      `[ "$(cat example.out)" = "$(printf 'hello\nhello')" ] && [ ! -e /dev/shm/shared_buffer ]`},
	`go test ./...`: {
		skip: "the test run this test is part of"},
	`go build -o shmbuf ./cmd/shmbuf     # a binary here`: {
		setup: `copymodule src; cd src; rm -f shmbuf`,
		check: `./shmbuf version | grep -q '^shmbuf version '`,
		long:  true},
	`go install ./cmd/shmbuf             # or into $(go env GOPATH)/bin`: {
		setup: `copymodule src; cd src; export GOBIN="$EXAMPLE_DIR/gobin"`,
		check: `"$GOBIN/shmbuf" version | grep -q '^shmbuf version '`,
		long:  true},
	`go test -run '^$' -bench 'Ring(Batch)?_(Throughput|Latency)' -benchtime 2s .`: {
		bounded:    `go test -run '^$' -bench 'Ring(Batch)?_(Throughput|Latency)' -benchtime 1000x .`,
		why:        "a measurement: 1000 records instead of two seconds' worth",
		privateTmp: true,
		check:      `grep -q '^BenchmarkRingBatch_Throughput' example.out && grep -q '^PASS' example.out`,
		long:       true},
	`shmbuf bench --transports pipe,pipe-buffered,ring,ring-batch,ring-block --sizes 64,64KiB`: {
		bounded:  `shmbuf bench --transports pipe,pipe-buffered,ring,ring-batch,ring-block --sizes 64,64KiB --reps 1 --warmup 0 --phase 2ms --placement any --quiet`,
		why:      "a measurement: one short repetition of each",
		short:    `shmbuf bench --transports ring-batch,ring-block --sizes 64,64KiB --reps 1 --warmup 0 --phase 2ms --placement any --quiet`,
		shortWhy: "the --cpus 0,1 example measures pipe, pipe-buffered and ring at these sizes",
		check:    `grep -q '^ring-batch ' example.out && grep -q '^ring-block ' example.out`},
	readmeProgram: {
		goProgram: true,
		check:     `[ "$(cat example.out)" = "$(printf 'hello\nready (generation 1)')" ]`},

	// README: rings, completion, errors.
	`shmbuf create logs --kind ring --size 1MiB`: {
		check: `shmbuf stat logs | grep -q '^capacity *1MiB$'`},
	`shmbuf read -f logs | consumer &        # every record, like tail -f`: {
		setup: `shmbuf create logs --kind ring --size 1MiB`,
		check: `producer | shmbuf write logs
			waitfor '[ "$(cat consumer.out 2>/dev/null)" = "$(producer)" ]'`},
	`producer | shmbuf write logs            # one record per line`: {
		setup: `shmbuf create logs --kind ring --size 1MiB`,
		check: `[ "$(shmbuf read logs)" = "$(producer)" ]`},
	`tail -f app.log | shmbuf write --kind ring logs2   # creates the ring`: {
		setup: `producer > app.log`,
		bg:    true, // tail -f never ends: the sandbox ends it
		check: `waitfor '[ -e /dev/shm/logs2 ]'
			[ "$(shmbuf read -f --count 3 logs2)" = "$(producer)" ]`},
	`shmbuf read --until-end logs2 | consumer            # stops when the stream ends`: {
		setup: `shmbuf create logs2 --kind ring --size 64KiB; producer | shmbuf write logs2`,
		check: `[ "$(cat consumer.out)" = "$(producer)" ]`},
	`producer | shmbuf write --sync=1s --kind ring file:app.journal   # flushed every second and at exit`: {
		check: `[ "$(shmbuf read --until-end file:app.journal)" = "$(producer)" ]`},
	`shmbuf read file:app.journal                                     # what it holds, again and again`: {
		setup: `producer | shmbuf write --kind ring file:app.journal`,
		check: `[ "$(cat example.out)" = "$(producer)" ] && [ "$(shmbuf read file:app.journal)" = "$(producer)" ]`},
	`source <(shmbuf completion bash)`: {
		check: `complete -p shmbuf | grep -q __start_shmbuf`},
	`shmbuf read missing`: {code: 1},
	`shmbuf create frames --kind ring --size 4KiB --readers many`: {
		code: 2, check: `[ ! -e /dev/shm/frames ]`},
}

// readmeProgram is the README's Go program.
const readmeProgram = `package main

import (
	"fmt"
	"log"

	"github.com/shmbuf/shmbuf"
)

func main() {
	// Raw: the segment's content is the value; cat /dev/shm/greeting shows it.
	if err := shmbuf.StoreRaw("greeting", []byte("hello\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	defer shmbuf.Remove("greeting")
	r, err := shmbuf.OpenRawReadOnly("greeting")
	if err != nil {
		log.Fatal(err)
	}
	v, err := r.Load()
	r.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", v)

	// Snapshot: readers always get the newest whole value and never block
	// the writer.
	s, err := shmbuf.CreateSnapshot("status", shmbuf.CreateOptions{Size: 4096})
	if err != nil {
		log.Fatal(err)
	}
	defer shmbuf.Remove("status")
	defer s.Close()
	if err := s.Publish([]byte("ready")); err != nil {
		log.Fatal(err)
	}
	latest, gen, err := s.Load(nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (generation %d)\n", latest, gen)
}
`
