"""Linux network namespaces for the twin: run `ip`/`nft` in them, and open sockets inside them from this process.

`setns(2)` moves only the calling thread, so each socket is made on a short-lived thread that enters the namespace
first; a socket keeps the namespace it was made in, so the rest of the process can use it from anywhere.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
_libc = ctypes.CDLL(None, use_errno=True)


class TwinError(RuntimeError):
    pass


def can_build() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "the VPC twin needs root (network namespaces, nftables)"
    missing = [tool for tool in ("ip", "nft", "iptables", "curl") if not _on_path(tool)]
    return f"the VPC twin needs {', '.join(missing)} (make tools installs them)" if missing else None


def _on_path(tool: str) -> bool:
    return any((Path(d) / tool).exists() for d in os.environ.get("PATH", "").split(os.pathsep))


def run(*argv: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise TwinError(f"{' '.join(argv)} -> {done.returncode}: {done.stderr.strip()}")
    return done


def ip(namespace: str, *args: str, check: bool = True) -> None:
    run("ip", "-n", namespace, *args, check=check)


def ip_batch(namespace: str, commands: list[str]) -> None:
    """Many `ip` commands in one process (one per line)."""
    if commands:
        run("ip", "-n", namespace, "-batch", "-", stdin="\n".join(commands) + "\n")


def nft(namespace: str, ruleset: str) -> None:
    """A child forked from a thread inside the namespace is in it too (cheaper than `ip netns exec`)."""
    inside(namespace, lambda: run("nft", "-f", "-", stdin=ruleset))


def sysctl(namespace: str, settings: dict[str, str]) -> None:
    """/proc/sys/net shows the namespace of the thread that opens it."""
    def write() -> None:
        for key, value in settings.items():
            Path("/proc/sys", *key.split(".")).write_text(value)
    inside(namespace, write)


def add(namespace: str) -> None:
    run("ip", "netns", "add", namespace)
    ip(namespace, "link", "set", "lo", "up")


def delete(namespace: str) -> None:
    run("ip", "netns", "delete", namespace, check=False)


def sweep_stale(pattern: str = r"tw(\d+)") -> None:
    """Namespaces a killed test run left behind: named after a process that no longer exists."""
    for path in NETNS_DIR.glob("tw*") if NETNS_DIR.exists() else []:
        owner = re.match(pattern, path.name)
        if owner and not Path(f"/proc/{owner.group(1)}").exists():
            delete(path.name)


def existing(prefix: str) -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob(f"{prefix}*")) if NETNS_DIR.exists() else []


def inside(namespace: str, work: Callable[[], T]) -> T:
    """Run `work` on a thread that has entered `namespace`; its result (or exception) comes back here."""
    outcome: dict[str, object] = {}

    def enter_and_work() -> None:
        try:
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise TwinError(f"setns {namespace}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=enter_and_work, name=f"in-{namespace}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
