"""Checks of the Python package's API that need no other process: run by
TestPythonAPI with a unique name prefix as its argument."""

import os
import sys
import time

import shmbuf

prefix = sys.argv[1]
made = []


def name(s):
    n = prefix + "-" + s
    made.append(n)
    return n


def expect(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (fn, exc.__name__))


try:
    # No such segment, as FileNotFoundError too.
    e = expect(shmbuf.NoSuchSegment, shmbuf.Ring.open, prefix + "-missing")
    assert isinstance(e, FileNotFoundError) and isinstance(e, shmbuf.ShmbufError), e
    assert "posix:" + prefix + "-missing" in str(e), e

    ring = shmbuf.Ring.create(name("ring"), size=4096, max_record=1000)
    assert ring.capacity == 4096 and ring.max_record == 1000 and ring.policy == "block"
    rd = ring.reader()
    expect(shmbuf.Empty, rd.read, timeout=0)
    t0 = time.monotonic()
    e = expect(shmbuf.Timeout, rd.read, timeout=0.2)
    assert isinstance(e, TimeoutError)
    assert 0.15 < time.monotonic() - t0 < 5, "timeout took %.3fs" % (time.monotonic() - t0)
    with ring.writer() as w:
        expect(shmbuf.ShmbufError, w.write, b"x" * 1001)  # too large
        view = w.claim(5)
        view[:] = b"abcde"
        w.commit()
        w.write(bytearray(b"second"))
    # Zero copy: the view points into the ring.
    v = rd.read_view()
    assert isinstance(v, memoryview) and v.readonly and bytes(v) == b"abcde", v
    assert rd.read() == b"second"
    assert rd.read() is None  # end of stream
    rd.close()

    # A writer whose block raised ends the stream with WriterLost.
    rd = ring.reader(start="latest")
    try:
        with ring.writer() as w:
            w.write(b"last words")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert rd.read() == b"last words"
    expect(shmbuf.WriterLost, rd.read)
    rd.close()
    ring.close()

    # Lapped readers of an overwrite ring get exact counts.
    ring = shmbuf.Ring.create(name("over"), size=4096, policy="overwrite", max_record=100)
    rd = ring.reader()
    with ring.writer() as w:
        for i in range(1000):
            w.write(b"%04d" % i + b"." * 60)
    got, lost = [], 0
    while True:
        try:
            rec = rd.read()
        except shmbuf.LostRecords as e:
            lost += e.records
            assert e.bytes == e.records * 64, (e.records, e.bytes)
            continue
        if rec is None:
            break
        got.append(int(rec[:4]))
    assert lost + len(got) == 1000 and lost > 0, (lost, len(got))
    assert got == list(range(1000 - len(got), 1000)), got[:5]
    rd.close()
    ring.close()

    # A corrupt ring: a flipped header byte.
    path = "/dev/shm/" + name("over")
    with open(path, "r+b") as f:
        f.seek(30)
        b = f.read(1)
        f.seek(30)
        f.write(bytes([b[0] ^ 1]))
    expect(shmbuf.Corrupt, shmbuf.Ring.open, name("over"))

    # Snapshots, as in the README's example.
    snap = shmbuf.Snapshot.create(name("status"), 64)
    assert snap.load() == b"" and snap.generation == 0
    snap.publish(b"ready")
    assert snap.load() == b"ready" and snap.generation == 1
    expect(shmbuf.ShmbufError, snap.publish, b"x" * 65)
    snap.close()
    with shmbuf.Snapshot.open(name("status")) as s2:
        assert s2.load() == b"ready"

    shmbuf.raw_store(name("raw"), b"raw value")
    assert shmbuf.raw_load(name("raw")) == b"raw value"
    print("ok")
finally:
    for n in made:
        try:
            os.unlink("/dev/shm/" + n)
        except FileNotFoundError:
            pass
