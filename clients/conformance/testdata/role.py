"""The Python side of the conformance tests: the same commands and output as
clients/c/shmbuf_tool.c (see the pattern described there)."""

import os
import struct
import sys
import time

import shmbuf


def pattern(wid, k, maxlen):
    n = 8 + (k * 7919 + wid * 31) % (maxlen - 7)
    base = wid * 131 + k * 17
    return struct.pack("<II", wid, k) + bytes((base + i * 13) & 0xFF for i in range(8, n))


def write(addr, wid, count, maxlen, opts):
    ring = shmbuf.Ring.open(addr)
    maxlen = min(maxlen, ring.max_record)
    w = ring.writer(wait=opts.get("wait", "adaptive"))
    print("ready", flush=True)
    if "gate" in opts:
        sys.stdin.read(1)
    for k in range(count):
        rec = pattern(wid, k, maxlen)
        if k % 2:
            view = w.claim(len(rec))
            view[:] = rec
            w.commit()
        else:
            w.write(rec)
    if "hang" in opts:
        view = w.claim(8)
        print("hung", flush=True)
        while True:
            time.sleep(1)
    w.close()
    ring.close()


def read(addr, opts, observe=False):
    """Reads to the end with a reader, or (observe) with an observer on the
    ring opened read-only."""
    ring = shmbuf.Ring.open_readonly(addr) if observe else shmbuf.Ring.open(addr)
    maxlen = int(opts.get("maxlen", ring.max_record))
    timeout = float(opts["timeout-ms"]) / 1000 if "timeout-ms" in opts else None
    if observe:
        rd = ring.observer(wait=opts.get("wait", "adaptive"))
    else:
        rd = ring.reader(wait=opts.get("wait", "adaptive"))
    print("ready", flush=True)
    nxt, records, nbytes, lostr, lostb, end, status = {}, 0, 0, 0, 0, "?", 0
    lost_any = False
    while True:
        try:
            view = rd.read_view(timeout=timeout)
        except shmbuf.LostRecords as e:
            lostr += e.records
            lostb += e.bytes
            nxt = {k: None for k in nxt}
            lost_any = True
            continue
        except shmbuf.WriterLost as e:
            end = "writer-lost"
            print(e, file=sys.stderr)
            break
        except shmbuf.Timeout:
            end = "timeout"
            break
        except shmbuf.Corrupt as e:
            end = "corrupt"
            print(e, file=sys.stderr)
            break
        if view is None:
            end = "eof"
            break
        wid, k = struct.unpack_from("<II", view)
        if bytes(view) != pattern(wid, k, maxlen):
            print("writer %d record %d: bytes differ" % (wid, k), file=sys.stderr)
            status = 1
            break
        want = nxt.get(wid, None if lost_any else 0)
        if want is not None and k != want:
            print("writer %d: record %d, want %d" % (wid, k, want), file=sys.stderr)
            status = 1
            break
        nxt[wid] = k + 1
        records += 1
        nbytes += len(view)
    ws = " ".join("%d:%d" % (i, n) for i, n in sorted(nxt.items()) if n)
    print("records %d bytes %d lost %d %d end %s writers %s" % (records, nbytes, lostr, lostb, end, ws), flush=True)
    rd.close()
    ring.close()
    return status


def main(argv):
    cmd, addr = argv[1], argv[2]
    rest = argv[3:]
    pos = [a for a in rest if "=" not in a and a not in ("gate", "hang")]
    opts = dict(a.split("=", 1) for a in rest if "=" in a)
    opts.update({a: "" for a in rest if a in ("gate", "hang")})
    if cmd == "create-ring":
        shmbuf.Ring.create(addr, size=int(pos[0]), policy=pos[1]).close()
    elif cmd == "create-snapshot":
        shmbuf.Snapshot.create(addr, int(pos[0])).close()
    elif cmd == "write":
        write(addr, int(pos[0]), int(pos[1]), int(pos[2]), opts)
    elif cmd == "read":
        return read(addr, opts)
    elif cmd == "observe":
        return read(addr, opts, observe=True)
    elif cmd == "snap-publish":
        with shmbuf.Snapshot.open(addr) as s:
            s.publish(pos[0].encode())
    elif cmd == "snap-load":
        with shmbuf.Snapshot.open(addr) as s:
            sys.stdout.buffer.write(s.load())
    elif cmd == "raw-store":
        shmbuf.raw_store(addr, pos[0].encode())
    elif cmd == "raw-load":
        sys.stdout.buffer.write(shmbuf.raw_load(addr))
    else:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
