"""Guest programs for differential tests: C sources compiled once per session, run natively and
under ``ecs-kernel run`` (in-process, so numba and Unicorn load once).

Binaries go under /var/tmp, not /tmp: the guest's /tmp is its own empty in-memory directory.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ecs_kernel.systems import io_wait
from tests.tools import installed

SRC = Path(__file__).parent / "src"
COMPILERS = {"gcc": ["gcc", "-static", "-O1", "-pthread"],
             "musl": ["musl-gcc", "-static", "-O1", "-pthread"],
             "gcc-dynamic": ["gcc", "-O1", "-pthread"]}


def build_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="ecs-guests-", dir="/var/tmp"))
    return d


@pytest.fixture(autouse=True)
def verify_quiet_looks(monkeypatch):
    """Every guest run in this process checks the I/O waiters' quiet look: a look it skips
    would have woken nobody (systems/io_wait.VERIFY_QUIET)."""
    monkeypatch.setattr(io_wait, "VERIFY_QUIET", True)


@pytest.fixture(scope="session")
def guest_build():
    d = build_dir()
    cache: dict[tuple[str, str], Path] = {}

    def build(name: str, libc: str = "gcc") -> Path:
        key = (name, libc)
        if key in cache:
            return cache[key]
        cc = COMPILERS[libc]
        installed(cc[0], "musl-tools" if cc[0] == "musl-gcc" else "gcc libc6-dev")
        out = d / f"{name}-{libc}"
        subprocess.run([*cc, "-o", str(out), str(SRC / f"{name}.c")], check=True,
                       capture_output=True)
        cache[key] = out
        return out

    yield build
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def go_build():
    """Build the Go program in src/NAME/ (a static binary: CGO_ENABLED=0), once per session."""
    d = build_dir()
    cache: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name in cache:
            return cache[name]
        installed("go", "golang-go")
        out = d / name
        env = {"PATH": "/usr/bin:/bin", "HOME": str(d), "GOCACHE": str(d / "gocache"),
               "GOPATH": str(d / "gopath"), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        subprocess.run(["go", "build", "-o", str(out), "."], cwd=SRC / name, env=env, check=True,
                       capture_output=True)
        cache[name] = out
        return out

    yield build
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["gcc", "musl", "gcc-dynamic"])
def libc(request):
    return request.param


@pytest.fixture
def busybox() -> str:
    """busybox-static's path (README installs it)."""
    return installed("busybox", "busybox-static")
