"""Host tools the suite runs beside ecs-kernel (README's install step installs every one of them,
so a missing tool fails the test that needs it: a skip would let a run that missed the install
step pass), and what the tests ask of the host's process table."""
from __future__ import annotations

import os
import shutil

import pytest


def installed(command: str, package: str) -> str:
    """The path of ``command``; a test failure naming the Debian package when it is missing."""
    path = shutil.which(command)
    if path is None:
        pytest.fail(f"{command} is not installed: README's install step installs it "
                    f"(apt-get install {package})", pytrace=False)
    return path


def children(pid: int) -> list[int]:
    """The host processes whose parent is ``pid`` (from /proc/*/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out
