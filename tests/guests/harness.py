"""Run a program natively and under ecs-kernel, capturing stdout, stderr and the exit status."""
from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass

from ecs_kernel.cli_run import run


@dataclass
class Result:
    status: int
    stdout: bytes
    stderr: bytes


def run_native(argv, env=None, cwd="/", stdin: bytes = b"", timeout=60) -> Result:
    p = subprocess.run([os.fspath(a) for a in argv], env=env if env is not None else {},
                       cwd=cwd, input=stdin, capture_output=True, timeout=timeout)
    return Result(p.returncode if p.returncode >= 0 else 128 - p.returncode, p.stdout, p.stderr)


def run_guest(argv, env=None, cwd="/", stdin: bytes = b"", root="/", strict=True,
              report=None, timeout=120, stop_at=None, clock=None, checkpoint=None,
              cpus=None, scheduler=None, rlimits=None) -> Result:
    """``ecs-kernel run`` in this process; stdio are files under /var/tmp. ``cpus``: as
    ``--cpus`` (default the host's). ``rlimits``: the guest's first resource limits (default
    Linux's boot ones; the command line gives the host's, cpu/host_limits.host_rlimits)."""
    envp = [f"{k}={v}".encode() for k, v in (env or {}).items()]
    with tempfile.TemporaryFile(dir="/var/tmp") as fin, \
            tempfile.TemporaryFile(dir="/var/tmp") as fout, \
            tempfile.TemporaryFile(dir="/var/tmp") as ferr:
        fin.write(stdin)
        fin.flush()
        fin.seek(0)
        errlog = open(ferr.fileno(), "w", closefd=False)
        status = run(os.fspath(argv[0]), [os.fspath(a) for a in argv], envp, root=root, cwd=cwd,
                     stdio=(fin.fileno(), fout.fileno(), ferr.fileno()), strict=strict,
                     stderr=errlog, report=report, timeout=timeout, stop_at=stop_at,
                     clock=clock, checkpoint=checkpoint, cpus=cpus, scheduler=scheduler,
                     rlimits=rlimits)
        errlog.flush()
        fout.seek(0)
        ferr.seek(0)
        return Result(status, fout.read(), ferr.read())
