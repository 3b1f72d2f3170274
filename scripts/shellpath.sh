#!/bin/sh
# shellpath.sh FILE [RING_SIZE]: the shell path against dd, best of 3 each,
# in one run: FILE through `shmbuf write --chunks RING` and
# `shmbuf read --until-end RING > /dev/null` (the reader attached first),
# and through `dd bs=64K | dd bs=64K of=/dev/null`. Prints the seconds of
# each try and the best of each, and the load average before and after.
set -eu
f=$1
size=${2:-1MiB}
shmbuf=${SHMBUF:-shmbuf}
ring=shellpath-$$
now() { date +%s.%N; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$f" > /dev/null # in the page cache for both
best_ring=999 best_dd=999
for i in 1 2 3; do
	"$shmbuf" create "$ring" --kind ring --size "$size" > /dev/null
	"$shmbuf" read --until-end "$ring" > /dev/null &
	rd=$!
	while ! "$shmbuf" stat "$ring" | grep -q '^readers *[1-9]'; do sleep 0.01; done
	t0=$(now)
	"$shmbuf" write --chunks "$ring" < "$f"
	wait $rd
	t1=$(now)
	"$shmbuf" rm "$ring"
	r=$(echo "$t1 - $t0" | bc)
	t0=$(now)
	dd if="$f" bs=64K status=none | dd of=/dev/null bs=64K status=none
	t1=$(now)
	d=$(echo "$t1 - $t0" | bc)
	echo "try $i: shmbuf ${r}s, dd ${d}s"
	best_ring=$(echo "if ($r < $best_ring) $r else $best_ring" | bc)
	best_dd=$(echo "if ($d < $best_dd) $d else $best_dd" | bc)
done
echo "best: shmbuf ${best_ring}s, dd ${best_dd}s, dd/shmbuf $(echo "scale=2; $best_dd / $best_ring" | bc)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
