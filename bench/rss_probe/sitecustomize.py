"""Memory probe for bench/rss.py: loaded by the worker when this folder is on its
PYTHONPATH and ``RSS_PROBE_OUT`` names a file (JSON lines, one per interval).

A daemon thread samples, every ``RSS_PROBE_EVERY_S`` (30 s):

- VmRSS and glibc's ``mallinfo2`` (bytes in use, free in the heap, mmapped), to
  tell Python-heap growth from allocator growth;
- the count of live objects by type (the 25 most common; ``gc.get_objects``);
- with ``RSS_PROBE_TRACEMALLOC=<frames>``, tracemalloc's 25 largest allocation
  sites by file:line (slows the worker down noticeably);
- the Faust consumer's and streams' buffered messages, when the app is reachable.

``RSS_PROBE_TRIM_S=<seconds>`` also calls ``malloc_trim(0)`` at that interval (an
experiment: does returning free heap pages to the OS flatten RSS?), and samples at
that interval when it is shorter.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _mallinfo(libc: Any) -> dict[str, int]:
    if libc is None or not hasattr(libc, "mallinfo2"):
        return {}
    libc.mallinfo2.restype = _Mallinfo2
    info = libc.mallinfo2()
    return {"heap_mb": info.arena >> 20, "in_use_mb": info.uordblks >> 20,
            "free_mb": info.fordblks >> 20, "mmap_mb": info.hblkhd >> 20,
            "mmap_count": info.hblks}


def _obmalloc(libc: Any) -> dict[str, int]:
    """pymalloc's arenas (mmapped, so outside mallinfo): ``_PyObject_DebugMallocStats``
    written to a scratch file and parsed."""
    if libc is None:
        return {}
    scratch = f"/tmp/rss-probe-{os.getpid()}.txt"
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    fp = libc.fopen(scratch.encode(), b"w")
    if not fp:
        return {}
    try:
        ctypes.pythonapi._PyObject_DebugMallocStats.argtypes = [ctypes.c_void_p]
        ctypes.pythonapi._PyObject_DebugMallocStats(fp)
    finally:
        libc.fclose(fp)
    out: dict[str, int] = {}
    for line in Path(scratch).read_text().splitlines():
        key, _, value = line.rpartition("=")
        key = key.strip()
        if key in ("# arenas allocated current", "# bytes in allocated blocks",
                   "# bytes in available blocks", "Total"):
            out.setdefault(key.strip("# ").replace(" ", "_"), int(value.strip().replace(",", "")))
    os.unlink(scratch)
    return {"pymalloc_arenas": out.get("arenas_allocated_current", 0),
            "pymalloc_used_mb": out.get("bytes_in_allocated_blocks", 0) >> 20,
            "pymalloc_total_mb": out.get("Total", 0) >> 20}


def _status() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile"):
            out[name.lower() + "_mb"] = round(int(value.split()[0]) / 1024, 1)
    return out


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _faust_buffers(objects: list[Any]) -> dict[str, Any]:
    """Messages held by Faust and aiokafka between the broker and the agents."""
    out: dict[str, Any] = {}
    try:
        queues = [o for o in objects if type(o).__name__ == "ThrottledQueue"]
        out["queues"] = len(queues)
        out["queued"] = sum(q.qsize() for q in queues)
        for obj in objects:
            name = type(obj).__name__
            module = type(obj).__module__
            if name == "Fetcher" and module.startswith("aiokafka"):
                out["fetched_partitions"] = len(obj._records)
            elif name == "Consumer" and module.startswith("faust"):
                out["unacked"] = len(obj._unacked_messages)
                out["acked"] = sum(len(v) for v in obj._acked.values())
    except Exception as exc:  # the probe must never stop the worker
        out["error"] = repr(exc)[:200]
    return out


def _loop(out: Path, every: float, trim_every: float | None) -> None:
    libc = _libc()
    started = time.monotonic()
    last_trim = started
    while True:
        time.sleep(every if trim_every is None else min(every, trim_every))
        now = time.monotonic()
        trimmed = None
        if trim_every is not None and now - last_trim >= trim_every and libc is not None:
            before = _rss_mb()
            libc.malloc_trim(0)
            trimmed = round(before - _rss_mb(), 1)
            last_trim = now
        record: dict[str, Any] = {"t_s": round(now - started, 1), "rss_mb": round(_rss_mb(), 1),
                                  **_status(), **_mallinfo(libc), **_obmalloc(libc),
                                  "trimmed_mb": trimmed,
                                  "gc_counts": gc.get_count(), "threads": threading.active_count()}
        objects = gc.get_objects()
        counts = collections.Counter(type(o).__name__ for o in objects)
        record["objects"] = sum(counts.values())
        record["top_types"] = counts.most_common(25)
        record["faust"] = _faust_buffers(objects)
        del objects
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot()
            stats = snapshot.statistics("lineno")
            record["traced_mb"] = round(sum(s.size for s in stats) / 2**20, 1)
            record["top_lines"] = [
                [f"{s.traceback[0].filename.split('site-packages/')[-1]}:"
                 f"{s.traceback[0].lineno}", round(s.size / 2**20, 2), s.count]
                for s in stats[:25]]
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")


def _start() -> None:
    target = os.environ.get("RSS_PROBE_OUT")
    if not target:
        return
    frames = os.environ.get("RSS_PROBE_TRACEMALLOC")
    if frames:
        tracemalloc.start(int(frames))
    trim = os.environ.get("RSS_PROBE_TRIM_S")
    threading.Thread(target=_loop, name="rss-probe", daemon=True, args=(
        Path(target), float(os.environ.get("RSS_PROBE_EVERY_S", "30")),
        float(trim) if trim else None)).start()


_start()
