"""Simulated hosts on one Linux machine: network namespaces joined by veth pairs.

Host ``c`` (the central one) has one veth pair to every other host, each pair
its own /30-style subnet ``<net>.<k>.0/24`` (``.1`` on c's end, ``.2`` on the
host's). The other hosts reach c by name (``prometheus-central``) through
``/etc/netns/<namespace>/hosts``, which ``ip netns exec`` mounts over
``/etc/hosts``. Nothing is added to the machine's own namespace, so two
topologies with different prefixes never collide. Needs root (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_ETC = Path("/etc/netns")
CENTRAL_NAME = "prometheus-central"


class NetnsError(RuntimeError):
    """An ip(8) command failed; the message has its output."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


@dataclass(frozen=True)
class Topology:
    """``hosts`` are the edge hosts (each linked to ``central``); ``prefix``
    namespaces every namespace and interface name (interface names <= 15 chars)."""

    prefix: str = "mh"
    hosts: tuple[str, ...] = ("a", "b")
    central: str = "c"
    net: str = "10.213"

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def link_index(self, host: str) -> int:
        return self.hosts.index(host) + 1

    def address(self, host: str) -> str:
        """An edge host's address on its link to the central host."""
        return f"{self.net}.{self.link_index(host)}.2"

    def central_address(self, host: str) -> str:
        """The central host's address on its link to ``host``."""
        return f"{self.net}.{self.link_index(host)}.1"

    def central_end(self, host: str) -> str:
        return f"{self.prefix}-{self.central}{host}"

    def namespaces(self) -> list[str]:
        return [self.ns(h) for h in (*self.hosts, self.central)]


def exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def up(topo: Topology) -> None:
    """Create the namespaces and links; on any failure remove what was made, then raise."""
    for name in topo.namespaces():
        if exists(name):
            raise NetnsError(f"namespace {name} exists already (run `down` first)")
    try:
        for name in topo.namespaces():
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
        central = topo.ns(topo.central)
        for host in topo.hosts:
            edge, far = f"{topo.prefix}-{host}x", topo.central_end(host)
            ip("link", "add", edge, "type", "veth", "peer", "name", far)
            ip("link", "set", edge, "netns", topo.ns(host))
            ip("link", "set", far, "netns", central)
            ip("-n", topo.ns(host), "link", "set", edge, "name", "eth0")
            ip("-n", topo.ns(host), "addr", "add", f"{topo.address(host)}/24", "dev", "eth0")
            ip("-n", topo.ns(host), "link", "set", "eth0", "up")
            ip("-n", central, "addr", "add", f"{topo.central_address(host)}/24", "dev", far)
            ip("-n", central, "link", "set", far, "up")
            etc = NETNS_ETC / topo.ns(host)
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(f"127.0.0.1 localhost\n{topo.central_address(host)} {CENTRAL_NAME}\n")
    except BaseException:
        down(topo)
        raise


def down(topo: Topology) -> list[str]:
    """Remove everything ``up`` may have made (deleting a namespace deletes its
    veth ends and the pair). Idempotent; returns what could not be removed."""
    problems = []
    for name in topo.namespaces():
        if exists(name):
            result = ip("netns", "del", name, check=False)
            if result.returncode != 0:
                problems.append(f"{name}: {result.stderr.strip()}")
    for host in topo.hosts:  # a veth left in the root namespace by an interrupted `up`
        ip("link", "del", f"{topo.prefix}-{host}x", check=False)
        shutil.rmtree(NETNS_ETC / topo.ns(host), ignore_errors=True)
    return problems


def set_link(topo: Topology, host: str, state: str) -> None:
    """``down`` cuts ``host`` off (its end of the link to the central host), ``up`` restores it."""
    ip("-n", topo.ns(host), "link", "set", "eth0", state)


def exec_prefix(ns: str) -> list[str]:
    """Prefix for a command that must run inside ``ns`` (exec, no extra process)."""
    return ["ip", "netns", "exec", ns]


class InNamespace:
    """Calls run on one thread that has entered ``ns``'s network namespace, so
    sockets opened by the call (an HTTP client, a ZeroMQ context) live there.
    A network namespace is per thread: the rest of the process is unaffected."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"netns-{ns}", initializer=self._enter)

    def _enter(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns({self.ns})")
        finally:
            os.close(fd)

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
