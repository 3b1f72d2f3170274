"""The Python side of the conformance tests: the same commands and output as
clients/c/shmbuf_tool.c (see the pattern described there)."""

import io
import os
import struct
import sys
import time
import traceback

import shmbuf


# Byte i (from 8) of a record is (base + 13*i) mod 256. 13 is odd, so that
# is STEP[(i + base*197) mod 256] with STEP[j] = 13*j mod 256 (197 is 13's
# inverse mod 256): a slice of STEP repeated, cut without a loop over the
# bytes, which in Python cost more than the rest of a role put together.
STEP = bytes((13 * j) & 0xFF for j in range(256))


def pattern(wid, k, maxlen):
    n = 8 + (k * 7919 + wid * 31) % (maxlen - 7)
    base = wid * 131 + k * 17
    start = (8 + base * 197) & 0xFF
    reps = (start + n) // 256 + 1
    return struct.pack("<II", wid, k) + (STEP * reps)[start:start + n - 8]


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


def serve():
    """Runs one command a line (its arguments separated by US, 0x1f) until
    standard input ends, each as main would, and answers each with a line
    "STATUS N M" followed by the N bytes it printed and the M bytes of its
    error output: one Python start serves a test's many short commands."""
    out, err = sys.stdout, sys.stderr
    for line in sys.stdin:
        buf, errbuf = io.BytesIO(), io.StringIO()
        sys.stdout = captured = io.TextIOWrapper(buf, encoding="utf-8", write_through=True)
        sys.stderr = errbuf
        try:
            status = main(["role.py"] + line.rstrip("\n").split("\x1f"))
        except Exception:
            traceback.print_exc()
            status = 1
        finally:
            captured.flush()
            sys.stdout, sys.stderr = out, err
        data, errdata = buf.getvalue(), errbuf.getvalue().encode()
        out.write("%d %d %d\n" % (status, len(data), len(errdata)))
        out.flush()
        out.buffer.write(data + errdata)
        out.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["serve"] else main(sys.argv))
