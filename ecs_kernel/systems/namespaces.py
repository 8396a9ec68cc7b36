"""Namespaces: unshare(2), setns(2), clone's CLONE_NEWIPC/CLONE_NEWNS, mount namespaces' /proc.

Linux: kernel/nsproxy.c (copy_namespaces, unshare_nsproxy_namespaces, setns), kernel/fork.c
(ksys_unshare, check_unshare_flags), fs/namespace.c; gVisor: kernel/task_usermode... and
kernel/ipc_namespace.go, pkg/sentry/vfs/mount.go.

What a task's namespaces are: its PID namespace (``tasks.ns``) and the one its children are born
in (``pidns_children``, set by unshare(CLONE_NEWPID)), its UTS namespace (``tasks.uts``, a
``uts_namespaces`` row), its IPC namespace (``ipcns``: systems/ipc.py), its mount namespace
(``mntns``), user namespace (``userns``: systems/user_namespace.py) and network namespace
(``netns``: net/stack.NetRegistry, a fresh lo each). Every namespace records
the user namespace that owns it (its creator's, after a CLONE_NEWUSER of the same call), and
creating or entering one needs CAP_SYS_ADMIN there (ns_capable), as Linux checks.

Mount namespaces (:class:`MountNamespace`) model what a private /proc needs: the file tree is
the kernel's one tree (fs/vfs.py), and a namespace keeps the stack of proc mounts on ``/proc``,
each the PID namespace its mounter was in (Linux's proc superblock's pid_ns); /proc shows the
processes of the top one (syscalls/procfs.py asks :func:`proc_view`). A new mount namespace
copies its creator's stack, so it sees the same /proc until it mounts its own, as on Linux.
mount(2) takes a proc mount on /proc and the propagation changes (MS_PRIVATE, MS_SLAVE,
MS_SHARED, MS_UNBINDABLE, with MS_REC), which have no effect on one tree; umount2 takes away
the top proc mount.

Namespace files (/proc/PID/ns/*) are :class:`NamespaceFile` objects naming a kind and a number;
setns takes them back.
"""
from __future__ import annotations

from ..abi import (CAP_SYS_ADMIN, CLONE_FILES, CLONE_FS, CLONE_NEWCGROUP, CLONE_NEWIPC,
                   CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER,
                   CLONE_NEWUTS, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD, CLONE_VM, ExitState)
from ..checkpoint_objects import state_class
from ..components import pidns, resources
from ..errors import E, KernelError, StaleHandleError
from ..net import stack as net_stack
from . import fd_table, ipc, ipc_sem, task_identity, user_namespace

# /proc/PID/ns/<name> -> the CLONE_NEW* flag setns checks it against
NS_KINDS = {"ipc": CLONE_NEWIPC, "mnt": CLONE_NEWNS, "net": CLONE_NEWNET, "pid": CLONE_NEWPID,
            "pid_for_children": CLONE_NEWPID, "user": CLONE_NEWUSER, "uts": CLONE_NEWUTS}
NS_NAMES = ("ipc", "mnt", "net", "pid", "pid_for_children", "user", "uts")
# Linux's inode numbers of the initial namespaces (include/linux/proc_ns.h); others are made
# from the kind and the namespace's number
INIT_INO = {CLONE_NEWIPC: 0xEFFFFFFF, CLONE_NEWUTS: 0xEFFFFFFE, CLONE_NEWUSER: 0xEFFFFFFD,
            CLONE_NEWPID: 0xEFFFFFFC, CLONE_NEWNS: 0xF0000000,
            CLONE_NEWNET: 0xEFFFFFF9}  # NET_NS_INIT_INO (Linux 6.18)
_KIND_BITS = {CLONE_NEWIPC: 1, CLONE_NEWUTS: 2, CLONE_NEWUSER: 3, CLONE_NEWPID: 4, CLONE_NEWNS: 5,
              CLONE_NEWNET: 6}

UNSHARE_FLAGS = (CLONE_THREAD | CLONE_FS | CLONE_NEWNS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES
                 | CLONE_SYSVSEM | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUSER
                 | CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWTIME)
UNMODELLED_NS = CLONE_NEWCGROUP | CLONE_NEWTIME
MODELLED_NS = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET


@state_class
class MountNamespace:
    """One mount namespace: the PID namespaces (handles) of the proc mounts stacked on /proc,
    the first the boot mount's."""

    __state__ = {"proc_views": "list[int]", "userns": "~int"}
    userns = 0  # the user namespace that owns it (its creator's)

    def __init__(self, proc_views: list[int], userns: int = 0):
        self.proc_views = list(proc_views)
        self.userns = userns


@state_class
class NamespaceSet:
    """The mount namespaces by number, and the next number."""

    __state__ = {"mounts": "dict[int,@MountNamespace]", "next_mnt": "int"}

    def __init__(self, root_view: int):
        self.mounts: dict[int, MountNamespace] = {0: MountNamespace([root_view])}
        self.next_mnt = 1


@state_class
class NamespaceFile:
    """What /proc/PID/ns/<name> opens to (nsfs): a namespace of a kind, by number (PID
    namespaces by handle)."""

    __state__ = {"kind": "int", "number": "int", "name": "str"}

    def __init__(self, kind: int, number: int, name: str):
        self.kind = kind
        self.number = number
        self.name = name


def _pidns_ref(world, row: int) -> int:
    """A reference to PID namespace ``row`` that outlives a checkpoint and tells a recycled row:
    its generation and row, ``gen << 32 | row``."""
    return int(world.pid_namespaces.gen[row]) << 32 | int(row)


def _pidns_row(world, ref: int) -> int:
    """The row a :func:`_pidns_ref` names; StaleHandleError once the namespace is gone."""
    N = world.pid_namespaces
    row = ref & 0xFFFF_FFFF
    if ref < 0 or row >= N.n or not N.alive[row] or int(N.gen[row]) != ref >> 32:
        raise StaleHandleError(f"PID namespace {ref:#x} is gone")
    return row


def namespaces(world) -> NamespaceSet:
    ns = world.index.namespaces
    if ns is None:
        root = _pidns_ref(world, world.index.root_pidns)
        ns = world.index.namespaces = NamespaceSet(root)
    return ns


# -- what a task's namespaces are ------------------------------------------------------------------

def children_pidns(world, t: int) -> int:
    """The PID namespace row task ``t``'s children are born in (task_active_pid_ns, or
    pid_ns_for_children after unshare(CLONE_NEWPID)). ENOMEM when it is gone (its init died)."""
    T = world.tasks
    h = int(T.pidns_children[t])
    if h < 0:
        return int(T.ns[t])
    try:
        return _pidns_row(world, h)
    except StaleHandleError:
        raise KernelError(E.ENOMEM, "the PID namespace for children is gone") from None


def ns_number(world, t: int, kind: int, name: str = "") -> int:
    """The number of ``t``'s namespace of ``kind`` (a PID namespace's generation and row)."""
    T = world.tasks
    if kind == CLONE_NEWIPC:
        return int(T.ipcns[t])
    if kind == CLONE_NEWNS:
        return int(T.mntns[t])
    if kind == CLONE_NEWUSER:
        return int(T.userns[t])
    if kind == CLONE_NEWUTS:
        return int(T.uts[t])
    if kind == CLONE_NEWNET:
        return int(T.netns[t])
    if kind == CLONE_NEWPID:
        row = children_pidns(world, t) if name == "pid_for_children" else int(T.ns[t])
        return _pidns_ref(world, row)
    raise KernelError(E.EINVAL, f"namespace kind {kind:#x}")


def ns_inode(world, kind: int, number: int) -> int:
    """The inode number /proc/PID/ns/* shows for a namespace (``kind:[ino]``): Linux's for the
    initial ones (the first UTS row is the init task's), one made of the kind and the number
    for the others."""
    initial = _pidns_ref(world, world.index.root_pidns) if kind == CLONE_NEWPID else 0
    if number == initial:
        return INIT_INO[kind]
    return 0xF0000000 + (_KIND_BITS[kind] << 20) + 1 + (number & 0xFFFFF)


def ns_link(world, t: int, name: str) -> str:
    """readlink of /proc/PID/ns/<name>: ``ipc:[4026531839]``."""
    kind = NS_KINDS[name]
    return f"{name.split('_')[0]}:[{ns_inode(world, kind, ns_number(world, t, kind, name))}]"


def ns_file(world, t: int, name: str) -> NamespaceFile:
    kind = NS_KINDS[name]
    return NamespaceFile(kind, ns_number(world, t, kind, name), name)


# -- creating namespaces -----------------------------------------------------------------------------

def _new_uts(world, t: int) -> None:
    T, U = world.tasks, world.uts_namespaces
    old = int(T.uts[t])
    nu = U.alloc()
    U.hostname[nu] = U.hostname[old]
    U.domainname[nu] = U.domainname[old]
    U.userns[nu] = T.userns[t]
    U.refs[nu] = 1
    _set_uts(world, t, nu)


def _set_uts(world, t: int, u: int) -> None:
    """``t`` moves to UTS namespace ``u`` (whose count already includes it)."""
    T, U = world.tasks, world.uts_namespaces
    old = int(T.uts[t])
    T.uts[t] = u
    if old >= 0:
        U.refs[old] -= 1
        if U.refs[old] == 0:
            U.free(old)


def _new_mntns(world, t: int) -> int:
    reg = namespaces(world)
    n = reg.next_mnt
    reg.next_mnt += 1
    reg.mounts[n] = MountNamespace(reg.mounts[int(world.tasks.mntns[t])].proc_views,
                                   int(world.tasks.userns[t]))
    return n


def owner(world, t: int, kind: int, name: str = "") -> int:
    """The user namespace that owns ``t``'s namespace of ``kind`` (a user namespace: itself)."""
    T = world.tasks
    if kind == CLONE_NEWUSER:
        return int(T.userns[t])
    if kind == CLONE_NEWUTS:
        return int(world.uts_namespaces.userns[int(T.uts[t])])
    if kind == CLONE_NEWPID:
        row = children_pidns(world, t) if name == "pid_for_children" else int(T.ns[t])
        return int(world.pid_namespaces.userns[row])
    if kind == CLONE_NEWIPC:
        return int(ipc.registry(world).namespaces[int(T.ipcns[t])].userns)
    if kind == CLONE_NEWNET:
        return int(net_stack.registry(world).stacks[int(T.netns[t])].userns)
    return int(namespaces(world).mounts[int(T.mntns[t])].userns)


def _file_owner(world, f: "NamespaceFile") -> int:
    """The user namespace owning the namespace a namespace file names."""
    if f.kind == CLONE_NEWUSER:
        return f.number
    if f.kind == CLONE_NEWUTS:
        return int(world.uts_namespaces.userns[f.number])
    if f.kind == CLONE_NEWPID:
        return int(world.pid_namespaces.userns[_pidns_row(world, f.number)])
    if f.kind == CLONE_NEWIPC:
        return int(ipc.registry(world).namespaces[f.number].userns)
    if f.kind == CLONE_NEWNET:
        return int(net_stack.registry(world).stacks[f.number].userns)
    return int(namespaces(world).mounts[f.number].userns)


def clone_namespaces(world, creator: int, child: int, flags: int) -> None:
    """copy_namespaces for what this module keeps: a new IPC, mount or network namespace for the child
    (the user, PID and UTS ones are task_clone's), owned by the child's user namespace."""
    T = world.tasks
    if flags & CLONE_NEWIPC:
        T.ipcns[child] = ipc.new_namespace(world, int(T.userns[child]))
    if flags & CLONE_NEWNS:
        T.mntns[child] = _new_mntns(world, child)
    if flags & CLONE_NEWNET:
        T.netns[child] = net_stack.registry(world).new(int(T.userns[child]))
    T.pidns_children[child] = -1


def unshare(world, t: int, flags: int) -> int:
    """ksys_unshare: the flags' implications, check_unshare_flags, the permission, then each
    namespace and resource in Linux's order. A new user namespace comes first (unshare_userns),
    so the other new namespaces are its and need no capability outside it. CLONE_NEWCGROUP and
    CLONE_NEWTIME are not modelled (EINVAL)."""
    T, G = world.tasks, world.thread_groups
    if flags & CLONE_NEWUSER:
        flags |= CLONE_THREAD | CLONE_FS
    if flags & CLONE_VM:
        flags |= CLONE_SIGHAND
    if flags & CLONE_SIGHAND:
        flags |= CLONE_THREAD
    if flags & CLONE_NEWNS:
        flags |= CLONE_FS
    if flags & ~UNSHARE_FLAGS:
        raise KernelError(E.EINVAL, f"unknown unshare flags {flags:#x}")
    tg = int(T.tg[t])
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) and int(G.tasks_count[tg]) > 1:
        raise KernelError(E.EINVAL, "unshare of thread-shared state with other threads")
    if flags & (CLONE_SIGHAND | CLONE_VM):
        sh = int(T.sighand[t])
        if sh >= 0 and world.tables["signal_handlers"].refs[sh] > 1:
            raise KernelError(E.EINVAL, "signal handlers shared with another process")
    if flags & CLONE_VM:
        mm = int(T.mm[t])
        if mm >= 0 and world.tables["address_spaces"].refs[mm] > 1:
            raise KernelError(E.EINVAL, "memory shared with another process")
    if flags & UNMODELLED_NS:
        raise KernelError(E.EINVAL, f"namespaces {flags & UNMODELLED_NS:#x} are not modelled")
    if flags & MODELLED_NS and not flags & CLONE_NEWUSER \
            and not task_identity.own_capable(world, t, CAP_SYS_ADMIN):
        raise KernelError(E.EPERM, "unshare of a namespace needs CAP_SYS_ADMIN")
    if flags & CLONE_NEWPID and int(T.pidns_children[t]) != -1:
        raise KernelError(E.EINVAL, "the children's PID namespace was unshared already")
    if flags & CLONE_NEWUSER:
        user_namespace.enter(world, t, user_namespace.create(world, t))
    if flags & CLONE_NEWPID:
        new = pidns.new_namespace(world, int(T.ns[t]), int(T.userns[t]))
        T.pidns_children[t] = _pidns_ref(world, new)
    if flags & CLONE_FS:
        fs = int(T.fsctx[t])
        if fs >= 0 and world.tables["fs_contexts"].refs[fs] > 1:
            new = resources.copy(world, "fs_contexts", fs)
            resources.release(world, "fs_contexts", fs)
            T.fsctx[t] = new
    if flags & CLONE_FILES and T.fdtable[t] >= 0:
        fd_table.unshare(world, t)
    if flags & CLONE_NEWUTS:
        _new_uts(world, t)
    if flags & CLONE_NEWIPC:
        ipc_sem.drop_undo(world, t)  # CLONE_SYSVSEM: the undo list is applied, as at exit
        T.ipcns[t] = ipc.new_namespace(world, int(T.userns[t]))
    elif flags & CLONE_SYSVSEM:
        ipc_sem.drop_undo(world, t)
    if flags & CLONE_NEWNS:
        T.mntns[t] = _new_mntns(world, t)
    if flags & CLONE_NEWNET:
        T.netns[t] = net_stack.registry(world).new(int(T.userns[t]))
    return 0


def setns(world, t: int, f: NamespaceFile, nstype: int) -> int:
    """setns(2) with a namespace file: ``nstype`` 0 or the file's kind (EINVAL otherwise). Each
    kind's install: CAP_SYS_ADMIN in the user namespace that owns the target and in the
    caller's own (EPERM). A PID namespace becomes the children's, and must be the caller's own
    or a descendant of it (EINVAL). A user namespace (userns_install): not the caller's own,
    no other threads, no shared fs context (EINVAL), CAP_SYS_ADMIN in it (EPERM); the caller
    then holds every capability in it."""
    T = world.tasks
    if nstype and nstype != f.kind:
        raise KernelError(E.EINVAL, "the file is another kind of namespace")
    if f.kind == CLONE_NEWUSER:
        return _setns_user(world, t, f.number)
    try:
        owner_ns = _file_owner(world, f)
    except (KeyError, StaleHandleError):
        raise KernelError(E.EINVAL, "the namespace is gone") from None
    if not (task_identity.ns_capable(world, t, owner_ns, CAP_SYS_ADMIN)
            and task_identity.own_capable(world, t, CAP_SYS_ADMIN)):
        raise KernelError(E.EPERM, "setns needs CAP_SYS_ADMIN over the namespace")
    if f.kind == CLONE_NEWIPC:
        if f.number not in ipc.registry(world).namespaces:
            raise KernelError(E.EINVAL, "the IPC namespace is gone")
        ipc_sem.drop_undo(world, t)
        T.ipcns[t] = f.number
    elif f.kind == CLONE_NEWNET:
        T.netns[t] = f.number
    elif f.kind == CLONE_NEWUTS:
        U = world.uts_namespaces
        if not U.alive[f.number]:
            raise KernelError(E.EINVAL, "the UTS namespace is gone")
        U.refs[f.number] += 1
        _set_uts(world, t, f.number)
    elif f.kind == CLONE_NEWNS:
        if int(world.thread_groups.tasks_count[int(T.tg[t])]) > 1:
            raise KernelError(E.EINVAL, "setns of a mount namespace with other threads")
        if f.number not in namespaces(world).mounts:
            raise KernelError(E.EINVAL, "the mount namespace is gone")
        T.mntns[t] = f.number
    elif f.kind == CLONE_NEWPID:
        try:
            row = _pidns_row(world, f.number)
        except StaleHandleError:
            raise KernelError(E.EINVAL, "the PID namespace is gone") from None
        if int(T.ns[t]) not in pidns.chain(world, row):
            raise KernelError(E.EINVAL, "not a descendant of the caller's PID namespace")
        T.pidns_children[t] = -1 if row == int(T.ns[t]) else f.number
    return 0


def _setns_user(world, t: int, ns: int) -> int:
    T = world.tasks
    U = world.user_namespaces
    if not (0 <= ns < U.n and U.alive[ns]):
        raise KernelError(E.EINVAL, "the user namespace is gone")
    if ns == int(T.userns[t]):
        raise KernelError(E.EINVAL, "already in that user namespace")
    if int(world.thread_groups.tasks_count[int(T.tg[t])]) > 1:
        raise KernelError(E.EINVAL, "setns of a user namespace with other threads")
    fs = int(T.fsctx[t])
    if fs >= 0 and world.tables["fs_contexts"].refs[fs] > 1:
        raise KernelError(E.EINVAL, "setns of a user namespace with a shared fs context")
    if not task_identity.ns_capable(world, t, ns, CAP_SYS_ADMIN):
        raise KernelError(E.EPERM, "setns needs CAP_SYS_ADMIN in the user namespace")
    user_namespace.enter(world, t, ns)
    return 0


# setns(2) with a pidfd: the kinds it may name, in the order validate_nsset installs them
SETNS_PIDFD_ORDER = (CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID,
                     CLONE_NEWCGROUP, CLONE_NEWNET, CLONE_NEWTIME)
SETNS_PIDFD_FLAGS = sum(SETNS_PIDFD_ORDER)


def setns_task(world, t: int, target: int, flags: int) -> int:
    """setns(2) with a pidfd: join the namespaces ``flags`` names of process ``target`` (its
    leader's row, -1 once reaped), all or none (Linux nsproxy.c: check_setns_flags, then
    validate_nsset, then commit). EINVAL for no or unknown flags; ESRCH for a process that
    exited (a zombie has no namespaces any more); EPERM without ptrace access to it or without
    CAP_SYS_ADMIN. Cgroup and time namespaces are not modelled: every task shares the first,
    so joining the target's is joining one's own (allowed with CAP_SYS_ADMIN)."""
    T = world.tasks
    if not flags or flags & ~SETNS_PIDFD_FLAGS:
        raise KernelError(E.EINVAL, "setns flags")
    if target < 0 or int(T.exit_state[target]) != ExitState.NONE:
        raise KernelError(E.ESRCH, "the process has exited")
    if not task_identity.may_access(world, t, target):  # PTRACE_MODE_READ_REALCREDS
        raise KernelError(E.EPERM, "no ptrace access to the process")
    files = []
    for kind in SETNS_PIDFD_ORDER:
        if not flags & kind:
            continue
        if not task_identity.capable(world, t, CAP_SYS_ADMIN):
            raise KernelError(E.EPERM, "setns needs CAP_SYS_ADMIN")
        if kind in (CLONE_NEWCGROUP, CLONE_NEWTIME):
            continue
        f = NamespaceFile(kind, ns_number(world, target, kind), "")
        if kind == CLONE_NEWUSER and f.number == int(T.userns[t]):
            raise KernelError(E.EINVAL, "already in that user namespace")
        if kind == CLONE_NEWNS and int(world.thread_groups.tasks_count[int(T.tg[t])]) > 1:
            raise KernelError(E.EINVAL, "setns of a mount namespace with other threads")
        if kind == CLONE_NEWPID and int(T.ns[t]) not in pidns.chain(world, int(T.ns[target])):
            raise KernelError(E.EINVAL, "not a descendant of the caller's PID namespace")
        files.append(f)
    for f in files:  # every check passed: commit_nsset
        setns(world, t, f, f.kind)
    return 0


# -- mount namespaces' /proc ---------------------------------------------------------------------------

def proc_view(world, t: int) -> int:
    """The PID namespace row whose processes /proc shows to task ``t`` (its mount namespace's
    top proc mount); the root namespace when that one is gone."""
    reg = world.index.namespaces
    if reg is None or t < 0:
        return world.index.root_pidns
    m = reg.mounts.get(int(world.tasks.mntns[t]))
    if m is None:
        return world.index.root_pidns
    try:
        return _pidns_row(world, m.proc_views[-1])
    except StaleHandleError:
        return world.index.root_pidns


def mount_proc(world, t: int) -> int:
    """mount -t proc on /proc: a proc mount of the caller's PID namespace on top. Needs
    CAP_SYS_ADMIN over the mount namespace (may_mount) and over the PID namespace (proc is
    mountable in a user namespace that owns it: mount_capable)."""
    T = world.tasks
    if not (task_identity.ns_capable(world, t, owner(world, t, CLONE_NEWNS), CAP_SYS_ADMIN)
            and task_identity.ns_capable(world, t, int(world.pid_namespaces.userns[int(T.ns[t])]),
                                         CAP_SYS_ADMIN)):
        raise KernelError(E.EPERM, "mount needs CAP_SYS_ADMIN")
    reg = namespaces(world)
    reg.mounts[int(world.tasks.mntns[t])].proc_views.append(
        _pidns_ref(world, int(world.tasks.ns[t])))
    return 0


def umount_proc(world, t: int) -> int:
    """umount of /proc: the top proc mount goes; the boot mount is the guest file tree's own
    (EBUSY: busy, as a root-filesystem mount in use)."""
    if not task_identity.ns_capable(world, t, owner(world, t, CLONE_NEWNS), CAP_SYS_ADMIN):
        raise KernelError(E.EPERM, "umount needs CAP_SYS_ADMIN")
    m = namespaces(world).mounts[int(world.tasks.mntns[t])]
    if len(m.proc_views) <= 1:
        raise KernelError(E.EBUSY, "the boot /proc mount stays")
    m.proc_views.pop()
    return 0


__all__ = ["MountNamespace", "NamespaceSet", "NamespaceFile", "NS_NAMES", "NS_KINDS",
           "namespaces", "children_pidns", "ns_number", "ns_inode", "ns_link", "ns_file",
           "clone_namespaces", "unshare", "setns", "owner", "proc_view", "mount_proc", "umount_proc"]
