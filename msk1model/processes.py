"""Which process did this, and is it still alive: for work left behind by a killed process.

A process is named ``host:pid:start`` (its start time in clock ticks since boot, from
``/proc/<pid>/stat``), so that a pid the system has since given to another process is not
taken for the one that died. Only processes of this host can be checked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["is_dead", "this_process"]


def _start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/<pid>/stat), None when unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return fields[19] if len(fields) > 19 else None


def this_process() -> str:
    """``host:pid:start`` of the calling process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def is_dead(process: str) -> bool | None:
    """Whether the process named ``process`` (``host:pid[:start]``) has ended: True, False, or
    None when it ran on another host (or the name is not one of ours)."""
    host, _, rest = process.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's live process
    # a different start time: the pid now belongs to another process
    return bool(start) and _start_time(int(pid)) not in (None, start)
