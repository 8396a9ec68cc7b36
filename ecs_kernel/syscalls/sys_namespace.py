"""Namespace syscalls: unshare, setns, mount, umount2 (gVisor: ``sys_thread.go``'s Unshare,
``sys_mount.go``; Linux: kernel/fork.c ksys_unshare, kernel/nsproxy.c setns, fs/namespace.c).

The semantics are systems/namespaces.py's. mount(2) knows the propagation changes (on any mount
point) and a proc mount on /proc (the mounter's PID namespace becomes what /proc lists in its
mount namespace); other filesystems are not modelled (ENODEV), nor are bind, move and remount
(EINVAL).
"""
from __future__ import annotations

from ..abi import (CAP_SYS_ADMIN, CLONE_NEWNS, MNT_DETACH, MNT_EXPIRE, MNT_FORCE, MS_BIND, MS_MGC_MSK,
                   MS_MGC_VAL, MS_MOVE, MS_NOUSER, MS_PRIVATE, MS_REC, MS_REMOUNT, MS_SHARED,
                   MS_SILENT, MS_SLAVE, MS_UNBINDABLE, PATH_MAX, UMOUNT_NOFOLLOW)
from ..errors import E, KernelError
from ..fs.inodes import DirInode
from ..fs.mqueue import MQueueRoot
from ..fs.nsfs import NsfsFile
from .sys_pidfd import PidFile
from ..systems import fd_table, ipc, namespaces, task_identity
from .context import s32, u32
from .registry import PARTIAL, syscall

PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE
# filesystems Linux has that a guest may name; mounting them is not modelled here (ENODEV)
KNOWN_FS = {b"proc", b"tmpfs", b"sysfs", b"devtmpfs", b"devpts", b"mqueue", b"cgroup", b"cgroup2",
            b"ramfs", b"overlay", b"bpf", b"tracefs", b"debugfs", b"securityfs", b"hugetlbfs"}


@syscall("unshare", PARTIAL, "CLONE_NEWUSER (uid/gid maps, capabilities in the namespace, 32 "
         "levels), CLONE_NEWPID/NEWUTS/NEWIPC/NEWNS (a mount namespace's own /proc), "
         "CLONE_NEWNET (its own lo, ports and abstract names), CLONE_FS/FILES/SYSVSEM; cgroup and "
         "time namespaces are not modelled (EINVAL)",
         args=("crflags",))
def unshare(t, flags):
    """Implements unshare(2)."""
    return namespaces.unshare(t.world, t.row, u32(flags))


@syscall("setns", PARTIAL, "namespace files of /proc/PID/ns (user, ipc, uts, mnt, net, pid, "
         "pid_for_children) and pidfds, checked against the namespace's owning user namespace; "
         "cgroup and time namespaces are the one every task shares", args=("fd", "x"))
def setns(t, fd, nstype):
    """Implements setns(2)."""
    f = fd_table.get_file(t.world, t.row, s32(fd))
    if isinstance(f, PidFile):
        return namespaces.setns_task(t.world, t.row, f.task(t.world), s32(nstype))
    if not isinstance(f, NsfsFile):
        raise KernelError(E.EINVAL, "not a namespace file")
    return namespaces.setns(t.world, t.row, f.ns, s32(nstype))


def _mount_point(t, path: bytes) -> str:
    """The mount point ``path`` names (ENOENT and friends from the walk; EINVAL if it is not
    the root of a mount)."""
    fs = t.fs
    res = fs.resolve(path, cwd=None if path.startswith(b"/") else t.fsctx.cwd, creds=t.creds())
    d = res.inode
    for p, root in fs.mounts:
        if root is d:
            return p
    raise KernelError(E.EINVAL, "not a mount point")


@syscall("mount", PARTIAL, "propagation changes, proc on /proc per mount namespace, mqueue on "
         "any directory; other filesystems ENODEV; bind, move and remount EINVAL", args=("str", "s", "str", "x", "p"))
def mount(t, source, target, fstype, flags, data):
    """Implements mount(2)."""
    w = t.world
    flags &= 0xFFFF_FFFF_FFFF_FFFF
    typ = t.mm.copy_in_string(fstype, 4096) if fstype else b""
    if source:
        t.mm.copy_in_string(source, PATH_MAX)
    path = t.mm.copy_in_string(target, PATH_MAX)
    if (flags & MS_MGC_MSK) == MS_MGC_VAL:
        flags &= ~MS_MGC_MSK
    if flags & MS_NOUSER:
        raise KernelError(E.EINVAL, "MS_NOUSER")
    if not task_identity.ns_capable(w, t.row, namespaces.owner(w, t.row, CLONE_NEWNS),
                                    CAP_SYS_ADMIN):  # may_mount
        raise KernelError(E.EPERM, "mount needs CAP_SYS_ADMIN")
    point = _mount_point(t, path) if flags & (PROPAGATION | MS_REMOUNT | MS_BIND | MS_MOVE) \
        else None
    if flags & MS_REMOUNT or flags & MS_BIND or (flags & MS_MOVE and not flags & PROPAGATION):
        raise KernelError(E.EINVAL, "remount, bind and move are not modelled")
    if flags & PROPAGATION:
        kind = flags & ~(MS_REC | MS_SILENT)
        if kind not in (MS_SHARED, MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE):
            raise KernelError(E.EINVAL, "more than one propagation type")
        del point  # one tree: nothing propagates anyway
        return 0
    if not typ:
        raise KernelError(E.EINVAL, "no filesystem type")
    if typ not in KNOWN_FS:
        raise KernelError(E.ENODEV, f"unknown filesystem {typ!r}")
    res = t.fs.resolve(path, cwd=None if path.startswith(b"/") else t.fsctx.cwd, creds=t.creds())
    proc_root = dict(t.fs.mounts).get("/proc")
    if typ == b"proc" and proc_root is not None and res.inode is proc_root:
        return namespaces.mount_proc(w, t.row)
    if typ == b"mqueue":  # the mounter's IPC namespace's queues (mqueue_get_tree)
        if not isinstance(res.inode, DirInode):
            raise KernelError(E.ENOTDIR, "not a directory")
        t.fs.mount_over(res.inode, MQueueRoot(ipc.namespace_of(w, t.row)))
        return 0
    raise KernelError(E.ENODEV, f"mounting {typ.decode(errors='replace')} here is not modelled")


@syscall("umount2", PARTIAL, "a proc mount that mount(2) put on /proc, an mqueue mount", args=("s", "x"))
def umount2(t, target, flags):
    """Implements umount2(2)."""
    flags = s32(flags)
    if flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
        raise KernelError(E.EINVAL, "bad umount flags")
    if not task_identity.ns_capable(t.world, t.row, namespaces.owner(t.world, t.row, CLONE_NEWNS),
                                    CAP_SYS_ADMIN):  # may_mount
        raise KernelError(E.EPERM, "umount needs CAP_SYS_ADMIN")
    path = t.mm.copy_in_string(target, PATH_MAX)
    point = _mount_point(t, path)
    if point == "/proc":
        return namespaces.umount_proc(t.world, t.row)
    if point == "/":
        raise KernelError(E.EINVAL, "the root mount")
    if isinstance(dict(t.fs.mounts)[point], MQueueRoot):
        t.fs.umount(point)
        return 0
    raise KernelError(E.EBUSY, f"{point} is the guest file tree's own mount")
