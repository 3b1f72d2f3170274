"""shmbuf: shared-memory rings, snapshots and raw segments, from Python.

A ctypes binding of libshmbuf (clients/c), standard library only. The
library is found through the SHMBUF_LIB environment variable, next to this
package, or in clients/c of the source tree.

    import shmbuf
    ring = shmbuf.Ring.create("logs", size=1 << 20)   # or shmbuf.Ring.open("logs")
    with ring.writer() as w:
        w.write(b"hello")
    with ring.reader() as rd:
        for rec in rd:          # bytes; the loop ends at end of stream
            print(rec)

Ring.open_readonly(name).observer() reads without write permission.

Errors are ShmbufError subclasses: NoSuchSegment, Corrupt, LostRecords
(with .records and .bytes), WriterLost, Timeout.
"""

from ._binding import (
    ShmbufError,
    NoSuchSegment,
    Corrupt,
    LostRecords,
    WriterLost,
    Timeout,
    Empty,
    Ring,
    Writer,
    Reader,
    Observer,
    Snapshot,
    raw_load,
    raw_store,
)

__all__ = [
    "ShmbufError",
    "NoSuchSegment",
    "Corrupt",
    "LostRecords",
    "WriterLost",
    "Timeout",
    "Empty",
    "Ring",
    "Writer",
    "Reader",
    "Observer",
    "Snapshot",
    "raw_load",
    "raw_store",
]
