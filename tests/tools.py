"""Host tools the suite runs beside ecs-kernel. README's install step installs every one of them,
so a missing tool fails the test that needs it (a skip would let a run that missed the install
step pass)."""
from __future__ import annotations

import shutil

import pytest


def installed(command: str, package: str) -> str:
    """The path of ``command``; a test failure naming the Debian package when it is missing."""
    path = shutil.which(command)
    if path is None:
        pytest.fail(f"{command} is not installed: README's install step installs it "
                    f"(apt-get install {package})", pytrace=False)
    return path
