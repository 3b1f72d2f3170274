"""The ctypes layer over libshmbuf and the Pythonic classes on top."""

import ctypes
import os

_OK, _EOF = 0, 1
_EMPTY, _TIMEOUT, _LOST, _WRITER_LOST, _CORRUPT, _NOT_EXIST = -1, -2, -3, -4, -5, -6

_WAITS = {"adaptive": 0, "spin": 1, "block": 2}
_POLICIES = {"block": 0, "overwrite": 1}
_FROM = {"oldest": 0, "latest": 1}


class ShmbufError(Exception):
    """An error of libshmbuf; code is its (negative) error code."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class NoSuchSegment(ShmbufError, FileNotFoundError):
    """No segment at the address."""


class Corrupt(ShmbufError):
    """The segment's words cannot be right."""


class LostRecords(ShmbufError):
    """A reader of an overwrite ring was lapped: records and bytes were
    overwritten before it read them. The next read continues from the
    oldest record still in the ring."""

    def __init__(self, message, code, records, nbytes):
        super().__init__(message, code)
        self.records = records
        self.bytes = nbytes


class WriterLost(ShmbufError):
    """The stream ended because its last writer died or aborted."""


class Timeout(ShmbufError, TimeoutError):
    """The timeout passed before a record (or space) was ready."""


class Empty(ShmbufError):
    """No record ready (timeout=0)."""


_CLASSES = {
    _NOT_EXIST: NoSuchSegment,
    _CORRUPT: Corrupt,
    _WRITER_LOST: WriterLost,
    _TIMEOUT: Timeout,
    _EMPTY: Empty,
}


def _find_library():
    env = os.environ.get("SHMBUF_LIB")
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [env] if env else []
    candidates += [
        os.path.join(here, "libshmbuf.so"),
        os.path.join(here, "..", "..", "c", "libshmbuf.so"),
    ]
    for path in candidates:
        if path and os.path.exists(path):
            return ctypes.CDLL(path)
    raise ImportError(
        "libshmbuf.so not found: run make -C clients/c, or set SHMBUF_LIB"
    )


_lib = _find_library()
_p = ctypes.c_void_p
_u64 = ctypes.c_uint64
_i64 = ctypes.c_int64
_sz = ctypes.c_size_t
_int = ctypes.c_int


def _proto(name, res, *args):
    f = getattr(_lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


class _RingOpts(ctypes.Structure):
    _fields_ = [
        ("size", _u64),
        ("max_record", _u64),
        ("readers", ctypes.c_uint32),
        ("writers", ctypes.c_uint32),
        ("policy", _int),
        ("mode", ctypes.c_uint32),
        ("force", _int),
    ]


_last_error = _proto("shmbuf_last_error", ctypes.c_char_p)
_ring_create = _proto("shmbuf_ring_create", _int, ctypes.c_char_p, ctypes.POINTER(_RingOpts), ctypes.POINTER(_p))
_ring_open = _proto("shmbuf_ring_open", _int, ctypes.c_char_p, ctypes.POINTER(_p))
_ring_close = _proto("shmbuf_ring_close", None, _p)
_ring_capacity = _proto("shmbuf_ring_capacity", _u64, _p)
_ring_max_record = _proto("shmbuf_ring_max_record", _u64, _p)
_ring_policy = _proto("shmbuf_ring_policy", _int, _p)
_ring_reap = _proto("shmbuf_ring_reap", _int, _p)
_writer_open = _proto("shmbuf_writer_open", _int, _p, _int, ctypes.POINTER(_p))
_write = _proto("shmbuf_write", _int, _p, ctypes.c_char_p, _sz, _i64)
_claim = _proto("shmbuf_claim", _int, _p, _sz, ctypes.POINTER(_p), _i64)
_commit = _proto("shmbuf_commit", _int, _p)
_writer_close = _proto("shmbuf_writer_close", _int, _p, _int)
_reader_open = _proto("shmbuf_reader_open", _int, _p, _int, _int, ctypes.POINTER(_p))
_next = _proto("shmbuf_next", _int, _p, ctypes.POINTER(_p), ctypes.POINTER(_sz), _i64)
_reader_lost = _proto("shmbuf_reader_lost", None, _p, ctypes.POINTER(_u64), ctypes.POINTER(_u64))
_reader_close = _proto("shmbuf_reader_close", _int, _p)
_abort = _proto("shmbuf_abort", _int, _p)
_ring_open_ro = _proto("shmbuf_ring_open_readonly", _int, ctypes.c_char_p, ctypes.POINTER(_p))
_observer_open = _proto("shmbuf_observer_open", _int, _p, _int, _int, ctypes.POINTER(_p))
_observer_next = _proto("shmbuf_observer_next", _int, _p, ctypes.POINTER(_p), ctypes.POINTER(_sz), _i64)
_observer_lost = _proto("shmbuf_observer_lost", None, _p, ctypes.POINTER(_u64), ctypes.POINTER(_u64))
_observer_close = _proto("shmbuf_observer_close", None, _p)
_snap_create = _proto("shmbuf_snapshot_create", _int, ctypes.c_char_p, _u64, ctypes.c_uint32, _int, ctypes.POINTER(_p))
_snap_open = _proto("shmbuf_snapshot_open", _int, ctypes.c_char_p, ctypes.POINTER(_p))
_snap_capacity = _proto("shmbuf_snapshot_capacity", _u64, _p)
_snap_generation = _proto("shmbuf_snapshot_generation", _u64, _p)
_snap_publish = _proto("shmbuf_snapshot_publish", _int, _p, ctypes.c_char_p, _sz)
_snap_load = _proto("shmbuf_snapshot_load", _int, _p, _p, _sz, ctypes.POINTER(_sz))
_snap_close = _proto("shmbuf_snapshot_close", None, _p)
_raw_load = _proto("shmbuf_raw_load", _int, ctypes.c_char_p, ctypes.POINTER(_p), ctypes.POINTER(_sz))
_raw_store = _proto("shmbuf_raw_store", _int, ctypes.c_char_p, ctypes.c_char_p, _sz)
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [_p]
_libc.free.restype = None


def _raise(code):
    msg = (_last_error() or b"").decode("utf-8", "replace")
    raise _CLASSES.get(code, ShmbufError)(msg, code)


def _check(code):
    if code < 0:
        _raise(code)
    return code


def _ns(timeout):
    if timeout is None:
        return -1
    return max(0, int(timeout * 1e9))


# Waits without a timeout are made of slices, so that Ctrl-C (which Python
# delivers only between calls into C) stops them within this many seconds.
_SLICE = 0.1


def _call_waiting(fn, timeout):
    """Calls fn(timeout_ns) until it returns anything but a timeout, for
    ever when timeout is None."""
    if timeout is not None:
        return fn(_ns(timeout))
    while True:
        rc = fn(_ns(_SLICE))
        if rc != _TIMEOUT:
            return rc


def _addr(name):
    return os.fsencode(name)


class Ring:
    """A ring of records. Use Ring.open or Ring.create; close it (or use it
    as a context manager) when done."""

    def __init__(self, handle, address):
        self._h = handle
        self.address = address

    @classmethod
    def open(cls, address):
        h = _p()
        _check(_ring_open(_addr(address), ctypes.byref(h)))
        return cls(h, address)

    @classmethod
    def open_readonly(cls, address):
        """Opens a ring with read access only, for observers: writer() and
        reader() raise ShmbufError on it."""
        h = _p()
        _check(_ring_open_ro(_addr(address), ctypes.byref(h)))
        return cls(h, address)

    @classmethod
    def create(cls, address, size, policy="block", max_record=0, readers=0, writers=0, mode=0o600, force=False):
        o = _RingOpts(size, max_record, readers, writers, _POLICIES[policy], mode, int(bool(force)))
        h = _p()
        _check(_ring_create(_addr(address), ctypes.byref(o), ctypes.byref(h)))
        return cls(h, address)

    def _handle(self):
        if not self._h:
            raise ShmbufError("shmbuf: ring %s: closed" % self.address, -18)
        return self._h

    @property
    def capacity(self):
        return _ring_capacity(self._handle())

    @property
    def max_record(self):
        return _ring_max_record(self._handle())

    @property
    def policy(self):
        return "overwrite" if _ring_policy(self._handle()) == 1 else "block"

    def writer(self, wait="adaptive"):
        h = _p()
        _check(_writer_open(self._handle(), _WAITS[wait], ctypes.byref(h)))
        return Writer(self, h)

    def reader(self, wait="adaptive", start="oldest"):
        h = _p()
        _check(_reader_open(self._handle(), _WAITS[wait], _FROM[start], ctypes.byref(h)))
        return Reader(self, h)

    def observer(self, wait="adaptive", start="oldest"):
        """An Observer: reads like a reader without a slot or any store in
        the ring, so it holds no writer back and needs only read access;
        records overwritten before it read them raise LostRecords with
        exact counts."""
        h = _p()
        _check(_observer_open(self._handle(), _WAITS[wait], _FROM[start], ctypes.byref(h)))
        return Observer(self, h)

    def reap(self):
        _check(_ring_reap(self._handle()))

    def close(self):
        if self._h:
            _ring_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Writer:
    """Appends records; one write is one record. As a context manager it
    closes on exit, ending the stream with WriterLost for readers when the
    block raised."""

    def __init__(self, ring, handle):
        self._ring = ring
        self._h = handle
        self._claimed = None

    def write(self, data, timeout=None):
        data = bytes(data)
        _check(_call_waiting(lambda ns: _write(self._h, data, len(data), ns), timeout))
        return len(data)

    def claim(self, n, timeout=None):
        """Reserves a record of n bytes and returns a writable memoryview of
        its payload in the ring; commit() publishes it."""
        buf = _p()
        _check(_call_waiting(lambda ns: _claim(self._h, n, ctypes.byref(buf), ns), timeout))
        self._claimed = (ctypes.c_char * n).from_address(buf.value)
        return memoryview(self._claimed).cast("B")

    def commit(self):
        self._claimed = None
        _check(_commit(self._h))

    def abort(self):
        """Drops the claimed record without closing the writer (its space
        becomes padding that readers skip)."""
        self._claimed = None
        _check(_abort(self._h))

    def close(self, aborted=False):
        if self._h:
            self._claimed = None
            _writer_close(self._h, int(bool(aborted)))
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(aborted=exc_type is not None)


class Reader:
    """Reads every record from its own cursor. Iterating yields bytes and
    ends at the end of the stream."""

    def __init__(self, ring, handle):
        self._ring = ring
        self._h = handle
        self._ptr = _p()
        self._len = _sz()

    _c_next, _c_lost, _c_close = staticmethod(_next), staticmethod(_reader_lost), staticmethod(_reader_close)

    def _next(self, timeout):
        rc = _call_waiting(lambda ns: self._c_next(self._h, ctypes.byref(self._ptr), ctypes.byref(self._len), ns), timeout)
        if rc == _EOF:
            return False
        if rc == _LOST:
            r, b = _u64(), _u64()
            self._c_lost(self._h, ctypes.byref(r), ctypes.byref(b))
            msg = (_last_error() or b"").decode("utf-8", "replace")
            raise LostRecords(msg, rc, r.value, b.value)
        _check(rc)
        return True

    def read(self, timeout=None):
        """The next record as bytes, or None at the end of the stream."""
        if not self._next(timeout):
            return None
        return ctypes.string_at(self._ptr.value, self._len.value) if self._len.value else b""

    def read_view(self, timeout=None):
        """The next record as a read-only memoryview into the ring (zero
        copy under policy block; a verified copy under overwrite), valid
        until the next call on this reader; None at the end of the stream."""
        if not self._next(timeout):
            return None
        arr = (ctypes.c_char * self._len.value).from_address(self._ptr.value)
        return memoryview(arr).cast("B").toreadonly()

    def __iter__(self):
        return self

    def __next__(self):
        rec = self.read()
        if rec is None:
            raise StopIteration
        return rec

    def close(self):
        if self._h:
            self._c_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Observer(Reader):
    """Reads every record like a Reader, without a slot and without
    writing to the ring (Ring.observer). Records are copies; when writers
    overwrote records before it read them, LostRecords counts them exactly
    and the next read continues from the oldest record still there. A
    waiting observer sleeps at most 20 ms at a time (writers do not wake
    it)."""

    _c_next, _c_lost, _c_close = staticmethod(_observer_next), staticmethod(_observer_lost), staticmethod(_observer_close)


class Snapshot:
    """A latest-value segment."""

    def __init__(self, handle, address):
        self._h = handle
        self.address = address

    @classmethod
    def open(cls, address):
        h = _p()
        _check(_snap_open(_addr(address), ctypes.byref(h)))
        return cls(h, address)

    @classmethod
    def create(cls, address, capacity, mode=0o600, force=False):
        h = _p()
        _check(_snap_create(_addr(address), capacity, mode, int(bool(force)), ctypes.byref(h)))
        return cls(h, address)

    @property
    def capacity(self):
        return _snap_capacity(self._h)

    @property
    def generation(self):
        return _snap_generation(self._h)

    def publish(self, data):
        data = bytes(data)
        _check(_snap_publish(self._h, data, len(data)))

    def load(self):
        cap = _snap_capacity(self._h)
        buf = ctypes.create_string_buffer(max(cap, 1))
        n = _sz()
        _check(_snap_load(self._h, ctypes.cast(buf, _p), cap, ctypes.byref(n)))
        return buf.raw[: n.value]

    def close(self):
        if self._h:
            _snap_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_load(address):
    """The value of a raw segment."""
    p, n = _p(), _sz()
    _check(_raw_load(_addr(address), ctypes.byref(p), ctypes.byref(n)))
    try:
        return ctypes.string_at(p.value, n.value) if n.value else b""
    finally:
        _libc.free(p)


def raw_store(address, data):
    """Stores data as the value of a raw segment (created when missing)."""
    data = bytes(data)
    _check(_raw_store(_addr(address), data, len(data)))
