"""The /sys the guest sees: the CPUs the kernel models (Linux drivers/base/cpu.c), nothing else.

    /sys/devices/system/cpu/online, possible, present   "0-N": the CPUs 0..N the kernel models
    /sys/devices/system/cpu/offline                      empty: none is offline
    /sys/devices/system/cpu/kernel_max                   the most CPUs a kernel of ours models, - 1
    /sys/devices/system/cpu/cpu0 ... cpuN                a directory per CPU

glibc's sysconf(_SC_NPROCESSORS_ONLN / _CONF) and get_nprocs(_conf) read ``online`` and
``possible``; sched_getaffinity, /proc/cpuinfo and /proc/stat say the same (the provider's
``cpu_count()``). Every directory and file is read-only, as sysfs is to a process without
privileges over the devices.
"""
from __future__ import annotations

from functools import partial

from ecs_kernel.abi import MAX_CPUS, PAGE_SIZE
from ecs_kernel.checkpoint_objects import state_class, state_function
from ecs_kernel.fs.inodes import DataFile, DirInode, Inode, SuperBlock, SyntheticDir
from ecs_kernel.fs.proc import ProcProvider


def cpu_list(mask: int) -> str:
    """The CPUs of a mask in Linux's list format ("0", "0-3", "0,2-3"; cpumap_print_list)."""
    out = []
    i = 0
    while mask >> i:
        if mask >> i & 1:
            j = i
            while mask >> (j + 1) & 1:
                j += 1
            out.append(str(i) if i == j else f"{i}-{j}")
            i = j + 1
        else:
            i += 1
    return ",".join(out)


def _cpu_file(provider: ProcProvider, name: str) -> bytes:
    if name == "offline":
        return b"\n"
    if name == "kernel_max":
        return f"{MAX_CPUS - 1}\n".encode()
    return (cpu_list((1 << provider.cpu_count()) - 1) + "\n").encode()  # online, possible, present


state_function(_cpu_file)
_CPU_FILES = ("kernel_max", "offline", "online", "possible", "present")


@state_class
class SysDir(SyntheticDir):
    """A sysfs directory with fixed children."""

    __state__ = {"children": "dict[str,@Inode]"}

    def __init__(self, sb: SuperBlock, children: dict[str, Inode] | None = None):
        super().__init__(sb, 0o755)
        self.children = dict(children or {})
        for name, child in self.children.items():
            if isinstance(child, DirInode):
                child.parent, child.name = self, name

    def child_names(self) -> list[str]:
        return list(self.children)

    def make_child(self, name: str) -> Inode | None:
        return self.children.get(name)


@state_class
class SysfsFile(DataFile):
    """A sysfs attribute (kernfs): its size is a page whatever it holds, with no blocks, and
    lseek takes SEEK_END from there (generic_file_llseek)."""

    __state__ = {}
    seek_end = True

    @property
    def size(self) -> int:
        return PAGE_SIZE


@state_class
class CpuDir(SyntheticDir):
    """/sys/devices/system/cpu: the CPU lists and a directory per CPU."""

    __state__ = {"provider": "ctx:proc"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider):
        super().__init__(sb, 0o755)
        self.provider = provider

    def child_names(self) -> list[str]:
        return [f"cpu{i}" for i in range(self.provider.cpu_count())] + list(_CPU_FILES)

    def make_child(self, name: str) -> Inode | None:
        if name in _CPU_FILES:
            return SysfsFile(self.sb, partial(_cpu_file, self.provider, name))
        return SysDir(self.sb)


def make_sys_dir(sb: SuperBlock, provider: ProcProvider) -> SysDir:
    """A fresh /sys."""
    cpu = CpuDir(sb, provider)
    return SysDir(sb, {"devices": SysDir(sb, {"system": SysDir(sb, {"cpu": cpu})})})
