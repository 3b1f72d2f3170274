#!/bin/sh
# reliability.sh runs the long form of the reliability suites (README,
# "Reliability") and prints each suite's outcome lines.
#
#   scripts/reliability.sh             crash (1000 trials a case, one of them
#                                      a writer killed in another pid
#                                      namespace), soak (60 s a case), torn
#                                      values (10 s a case), atomic creation
#                                      (200 segments a case), permissions,
#                                      resource faults, stale segments, then
#                                      every fuzz target for FUZZTIME
#                                      (default 2m)
#
# It runs as root (permissions, the private tmpfs and the pid namespaces
# need it) and takes about 35 minutes plus 7 x FUZZTIME on 2 cores.
set -eu
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-2m}

echo "== suites (SHMBUF_LONG=1)"
SHMBUF_LONG=1 SHMBUF_REQUIRE=1 go test -count=1 -v -timeout 90m \
	-run 'TestCrash|TestSoak|NoTornValues|TestCreate|TestPermissions|TestResource|TestStale' . |
	grep -E '^(--- |ok|FAIL|PASS)|(crash|crash_ns|soak|torn|create_race|stale|permissions|resource)_test\.go'

echo "== fuzz (${fuzztime} each)"
for target in FuzzParseAddress FuzzOpenSnapshot FuzzOpenRing FuzzRingData; do
	printf '%s: ' "$target"
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" . 2>&1 |
		grep -E '^fuzz: elapsed' | tail -1
done
printf 'FuzzParse (sizes): '
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$fuzztime" ./internal/bytesize 2>&1 |
	grep -E '^fuzz: elapsed' | tail -1
printf 'FuzzValidate: '
go test -run '^$' -fuzz '^FuzzValidate$' -fuzztime "$fuzztime" ./internal/layout 2>&1 |
	grep -E '^fuzz: elapsed' | tail -1
