"""Three hosts on one machine: Linux network namespaces on a bridge, made and removed by the test.

    root namespace (the test: the relay's SMTP sink, the subscriber's mail client, browsers)
        10.R.S.254 on bridge rbbr<id>
    ├── veth ── namespace A  10.R.S.1   PostgreSQL and Redis (throwaway instances)
    ├── veth ── namespace B  10.R.S.2   web server and the inbound SMTP receiver
    └── veth ── namespace C  10.R.S.3   Celery workers (send; default + inbound)

Each namespace has only its loopback and its veth end: a process in B can reach A only over
the bridge, by A's address, as on separate machines.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"


class NamespacesUnavailable(Exception):
    pass


def _ip(*args: str, netns: str | None = None) -> None:
    command = [IP, *(["-n", netns] if netns else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise NamespacesUnavailable(f"{' '.join(command)}: {result.stderr.strip()}")


def _free_subnet() -> str:
    """A 10.x.y.0/24 no interface of this machine uses."""
    used = subprocess.run([IP, "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for _ in range(50):
        prefix = f"10.{secrets.randbelow(200) + 30}.{secrets.randbelow(250) + 1}"
        if f" {prefix}." not in used:
            return prefix
    raise NamespacesUnavailable("no free 10.x.y.0/24 subnet found")


@dataclass
class Host:
    name: str  # "a", "b", "c"
    netns: str
    address: str

    def command(self, argv: list[str]) -> list[str]:
        return [IP, "netns", "exec", self.netns, *argv]


@dataclass
class Network:
    tag: str
    prefix: str
    bridge: str
    gateway: str  # the root namespace's address on the bridge
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(
        self, host: str, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path
    ) -> subprocess.Popen:
        """A process on a host, in its own session (stopped with its children by stop_all)."""
        process = subprocess.Popen(
            self.hosts[host].command(argv),
            env=env,
            cwd=cwd,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def run(self, host: str, argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120):
        return subprocess.run(
            self.hosts[host].command(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def remove(self) -> None:
        """Every process first (a namespace outlives its processes otherwise), then links and namespaces."""
        self.stop_all()
        for host in self.hosts.values():
            pids = subprocess.run([IP, "netns", "pids", host.netns], capture_output=True, text=True).stdout
            for pid in pids.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run([IP, "netns", "del", host.netns], capture_output=True)
        subprocess.run([IP, "link", "del", self.bridge], capture_output=True)


def build(names: tuple[str, ...] = ("a", "b", "c")) -> Network:
    """The bridge, one namespace per host with a veth pair into the bridge; raises NamespacesUnavailable."""
    if os.geteuid() != 0:
        raise NamespacesUnavailable("creating network namespaces needs root (CI runs as root)")
    tag = secrets.token_hex(2)
    prefix = _free_subnet()
    network = Network(tag=tag, prefix=prefix, bridge=f"rbbr{tag}", gateway=f"{prefix}.254")
    try:
        _ip("link", "add", network.bridge, "type", "bridge")
        _ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
        _ip("link", "set", network.bridge, "up")
        for index, name in enumerate(names, start=1):
            host = Host(name=name, netns=f"rb{tag}{name}", address=f"{prefix}.{index}")
            network.hosts[name] = host
            outside, inside = f"rb{tag}{name}o", f"rb{tag}{name}i"
            _ip("netns", "add", host.netns)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", host.netns)
            _ip("link", "set", outside, "master", network.bridge)
            _ip("link", "set", outside, "up")
            _ip("link", "set", inside, "name", "eth0", netns=host.netns)
            _ip("addr", "add", f"{host.address}/24", "dev", "eth0", netns=host.netns)
            _ip("link", "set", "eth0", "up", netns=host.netns)
            _ip("link", "set", "lo", "up", netns=host.netns)
    except BaseException:
        network.remove()
        raise
    return network
