"""The AI box's own vitals, for ``extensions: [ai, uptime, clock_synced]``.

Parsers of the formats the vendor's drivers print (sophgo/libsophon
``driver/bm_attr.c``, bmvid's ``vpu.c``; BOX.md names each file), each
returning a value or raising ValueError with a short reason; the gateway
reads the files under ``host_root`` and leaves a field out, logged once,
when its source is missing, unreadable or says nothing.

Not read: ``/proc/jpuinfo``.  Its counters are reset by every read, so a
reporter reading it every beat would zero the figures the box's own tools
(``bm-smi``, the vendor's ``get_info``) show.  JPU load is left out.
"""

from __future__ import annotations

import os
import re

TPU_USAGE = "/sys/class/bm-tpu/bm-tpu0/device/npu_usage"
VPU_INFO = "/proc/vpuinfo"
CHIP_TEMP = "/sys/class/thermal/thermal_zone0/temp"
BOARD_TEMP = "/sys/class/thermal/thermal_zone1/temp"
TPU_HEAP = "/sys/kernel/debug/ion/bm_npu_heap_dump/summary"
UPTIME = "/proc/uptime"
GB = float(2**30)

# usage:35 avusage:12   (current drivers)   "usage": 35, "avusage": 12   (older ones)
_TPU = re.compile(r'"?usage"?\s*:\s*(\d+)\s*,?\s*"?avusage"?\s*:\s*(\d+)')
# "usage(instant|long)":35%|12%   one per VPU core
_VPU = re.compile(r'"usage\(instant\|long\)"\s*:\s*(\d+)\s*%\s*\|\s*(\d+)\s*%')
# [0] npu heap size:4141875200 bytes, used:0 bytes usage rate:0%, memory usage peak 0 bytes
_HEAP = re.compile(r"heap size\s*:\s*(\d+)\s*bytes\s*,\s*used\s*:\s*(\d+)\s*bytes")


def tpu_usage(text: str) -> float:
    """The TPU's busy share over the driver's last window (npu_usage_interval, 500 ms by
    default), in %. Its avusage (since the driver loaded) says little about now."""
    if "Usage enable" in text:
        raise ValueError("the driver's sampling is off (npu_usage_enable is 0)")
    found = _TPU.search(text)
    if not found:
        raise ValueError("not the driver's npu_usage format")
    return float(min(100, int(found.group(1))))


def vpu_usage(text: str) -> float:
    """The video cores' mean instant usage, in % (5 cores on BM1684, 3 on BM1684X; a core
    the file does not list is not counted)."""
    cores = [int(m.group(1)) for m in _VPU.finditer(text)]
    if not cores:
        raise ValueError("no core's usage in it")
    return round(min(100.0, sum(cores) / len(cores)), 1)


def temperature(text: str) -> float:
    """A thermal zone's reading, m°C, as °C with 1 decimal."""
    try:
        milli = int(text.strip())
    except ValueError:
        raise ValueError("not a temperature in m°C") from None
    if not -60000 <= milli <= 200000:
        raise ValueError(f"{milli} m°C is not a plausible temperature")
    return round(milli / 1000.0, 1)


def tpu_memory(text: str) -> tuple[float, float]:
    """(size in GB, share in use) of the TPU's ION heap, summed over its lines."""
    heaps = [(int(size), int(used)) for size, used in _HEAP.findall(text)]
    size = sum(s for s, _ in heaps)
    if not heaps or size <= 0:
        raise ValueError("no heap size in it")
    used = sum(u for _, u in heaps)
    return round(size / GB, 2), round(min(1.0, used / size), 2)


def uptime(text: str) -> int:
    """Seconds since boot, from /proc/uptime."""
    try:
        return int(float(text.split()[0]))
    except (IndexError, ValueError):
        raise ValueError("not /proc/uptime's format") from None


def clock_synced() -> bool:
    """Whether the kernel says its clock is synchronised (adjtimex: STA_UNSYNC clear and
    not TIME_ERROR), whichever daemon (chrony, ntpd, systemd-timesyncd) disciplines it.
    A read-only adjtimex(2): no privilege is needed."""
    import ctypes  # only when the extension is on
    import ctypes.util

    class Timex(ctypes.Structure):  # struct timex: modes, then the fields up to status
        _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                    ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                    ("status", ctypes.c_int), ("rest", ctypes.c_byte * 256)]

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    timex = Timex()
    state = libc.adjtimex(ctypes.byref(timex))
    if state < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"adjtimex: {os.strerror(code)}")
    sta_unsync, time_error = 0x0040, 5
    return state != time_error and not timex.status & sta_unsync
