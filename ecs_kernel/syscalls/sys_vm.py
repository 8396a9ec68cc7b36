"""process_vm_readv and process_vm_writev (gVisor: ``sys_process_vm.go``; Linux:
mm/process_vm_access.c). The permission check is systems/process_vm.py's; the copy goes page by
page of the remote ranges, as Linux pins them, and stops at the first page that cannot be read
(or written: no FOLL_FORCE) or the first local fault, returning what moved, or EFAULT when
nothing did.
"""
from __future__ import annotations

from ..abi import PAGE_SIZE
from ..errors import E, KernelError
from ..systems import process_vm
from .context import s32
from .registry import FULL, syscall


def _rw(t, pid, lvec, liovcnt, rvec, riovcnt, flags, write: bool) -> int:
    if flags:
        raise KernelError(E.EINVAL, "flags must be 0")
    local = t.mm.copy_in_iovecs(lvec, liovcnt)
    if not sum(n for _b, n in local):
        return 0
    remote = t.mm.copy_in_iovecs(rvec, riovcnt)
    if not any(n for _b, n in remote):
        return 0
    w = t.world
    mm = process_vm.target_mm(w, t.row, s32(pid))
    rmem = w.index.address_spaces[mm].aspace
    local = [[b, n] for b, n in local if n]
    li = 0
    copied = 0
    for base, n in remote:
        pos, end = base, base + n
        while pos < end and li < len(local):
            lb, ln = local[li]
            chunk = min(end - pos, PAGE_SIZE - pos % PAGE_SIZE, ln)
            try:
                if write:
                    data = t.mm.copy_in(lb, chunk)
                    rmem.copy_out(pos, data)
                else:
                    data = rmem.copy_in(pos, chunk)
                    t.mm.copy_out(lb, data)
            except KernelError:
                if copied:
                    return copied
                raise KernelError(E.EFAULT, "bad address") from None
            copied += chunk
            pos += chunk
            local[li] = [lb + chunk, ln - chunk]
            if ln == chunk:
                li += 1
        if li >= len(local):
            break
    return copied


@syscall("process_vm_readv", FULL, "ptrace_may_access without Yama", args=("i", "iov", "u", "p", "u", "x"))
def process_vm_readv(t, pid, lvec, liovcnt, rvec, riovcnt, flags):
    """Implements process_vm_readv(2)."""
    return _rw(t, pid, lvec, liovcnt, rvec, riovcnt, flags, False)


@syscall("process_vm_writev", FULL, "ptrace_may_access without Yama", args=("i", "iov", "u", "p", "u", "x"))
def process_vm_writev(t, pid, lvec, liovcnt, rvec, riovcnt, flags):
    """Implements process_vm_writev(2)."""
    return _rw(t, pid, lvec, liovcnt, rvec, riovcnt, flags, True)
