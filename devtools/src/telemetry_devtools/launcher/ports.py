"""Is a TCP port taken, and by which process. Linux /proc only: a listener of
another user (or another network namespace) is reported as unknown."""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")
LISTEN = "0A"  # TCP state in /proc/net/tcp


def port_taken(host: str, port: int) -> bool:
    """True when something listens on host:port. SO_REUSEADDR, as the servers use,
    so a closed connection lingering in TIME_WAIT is not mistaken for a listener."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (PROC / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def listener_pids(port: int) -> list[int]:
    """PIDs (visible to this user) holding a socket that listens on ``port``."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return []
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(entry / "fd")
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                if os.readlink(entry / "fd" / fd) in wanted:
                    pids.append(int(entry.name))
                    break
            except OSError:
                continue
    return sorted(pids)


def describe_pid(pid: int) -> str:
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    command = " ".join(" ".join(a.decode(errors="replace") for a in argv if a).split())
    return f"pid {pid} ({command[:120]})"


def who_listens(port: int) -> str:
    """Words for an error message: which process holds the port, where we can tell."""
    pids = listener_pids(port)
    if not pids:
        return "by a process this user cannot see"
    return "by " + ", ".join(describe_pid(pid) for pid in pids)


def parent_pid(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def is_same_or_descendant(pid: int, ancestor: int) -> bool:
    """pid is ancestor or runs under it (uvicorn --reload serves from a child process)."""
    seen = 0
    current: int | None = pid
    while current and seen < 64:
        if current == ancestor:
            return True
        current = parent_pid(current)
        seen += 1
    return False
