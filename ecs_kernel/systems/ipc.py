"""IPC namespaces and what System V IPC objects share: ids, keys, permissions, waiting.

gVisor: kernel/ipc (``Registry``, ``Object``, ``Perms``) and kernel/ipc_namespace.go; Linux:
ipc/util.c (ipc_addid, ipcget, ipcperms, ipc_update_perm), ipc/namespace.c.

The World's ``index.ipc`` is an :class:`IPCRegistry`: every IPC namespace by number, each an
:class:`IPCNamespace` holding three :class:`IPCIds` (shared memory, semaphores, message queues),
its POSIX message queues by name and its limits. A task's namespace is its ``ipcns`` column
(components/nsproxy.py; 0, the root one, made on first use). Namespaces are not reference counted:
one no task uses any more stays (its objects unreachable) until the World ends.

A task that waits on a System V object (semop, msgsnd, msgrcv) is blocked as ``io_waits`` rows
(systems/io_wait.py, ``Block.POLL``: a handler ends the wait with EINTR, as Linux never restarts
these calls) whose fd is the object's *channel*, ``-2 - wait_key``: a number no file descriptor
has, which only the object's own code wakes. The object keeps what each waiter asked for (its
pending operations) keyed by task row; an entry counts while :func:`waiting_on` says the task
still waits on that channel (a signal, a timeout or an exit ends the wait without telling the
object: stale entries are dropped as they are met). The object's code completes a wait with a
result (:func:`complete`: semop done by the waker, EIDRM when the object goes) or makes the call
run again (:func:`rerun`: a message arrived or space appeared).
"""
from __future__ import annotations

from ..abi import (Block, ERESTARTNOINTR, ExitState, IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPCMNI,
                   CAP_IPC_OWNER, CAP_SYS_ADMIN, DFLT_MSGMAX, DFLT_MSGSIZEMAX, DFLT_QUEUESMAX,
                   MSGMAX, MSGMNB, MSGMNI, RunState, SEMMNI, SEMMNS, SEMMSL, SEMOPM, SHMALL,
                   SHMMAX, SHMMNI)
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from . import cpu_clocks, io_wait, task_identity

IPC_MIN_CYCLE = 64  # RADIX_TREE_MAP_SIZE: ipc_min_cycle outside the extended IPCMNI mode
IPCID_SEQ_MAX = (1 << 31) // IPCMNI  # INT_MAX / SEQ_MULTIPLIER (ipcid_seq_max)
S_IRUGO = 0o444
S_IWUGO = 0o222


@state_class
class IPCObject:
    """kern_ipc_perm: the key, id, owner, creator and mode of one object, and whether it is
    gone (``deleted``: IPC_RMID, or a segment destroyed at its last detach)."""

    __state__ = {"key": "int", "id": "int", "uid": "int", "gid": "int", "cuid": "int",
                 "cgid": "int", "mode": "int", "seq": "int", "deleted": "bool",
                 "wait_key": "int", "waiters": "dict[int,tuple[int]]"}

    def __init__(self, key: int, uid: int, gid: int, mode: int):
        self.key = key
        self.id = -1
        self.uid = self.cuid = uid
        self.gid = self.cgid = gid
        self.mode = mode & 0o777
        self.seq = 0
        self.deleted = False
        self.wait_key = 0
        # task row -> what it waits for (each kind says), in the order they came (dicts keep it)
        self.waiters: dict[int, tuple] = {}

    @property
    def index(self) -> int:
        return self.id % IPCMNI

    def perm_bytes(self) -> tuple[int, int, int, int, int, int, int]:
        """struct ipc64_perm's fields: key, uid, gid, cuid, cgid, mode, seq."""
        return (self.key, self.uid, self.gid, self.cuid, self.cgid, self.mode, self.seq)


@state_class
class IPCIds:
    """ipc_ids: one kind's objects by index, its keys, and the sequence that makes ids."""

    __state__ = {"objects": "dict[int,@IPCObject]", "keys": "dict[int,int]", "seq": "int",
                 "last_idx": "int"}

    def __init__(self):
        self.objects: dict[int, IPCObject] = {}
        self.keys: dict[int, int] = {}  # key -> index (IPC_PRIVATE objects have none)
        self.seq = 0
        self.last_idx = -1

    @property
    def in_use(self) -> int:
        return len(self.objects)

    def add(self, obj: IPCObject, limit: int) -> int:
        """ipc_addid: the lowest free index after the last one given (idr_alloc_cyclic below
        max(in_use*3/2, 64)); the sequence moves on when the index wraps. ENOSPC at ``limit``."""
        if self.in_use >= limit:
            raise KernelError(E.ENOSPC, "too many IPC objects")
        max_idx = min(max(self.in_use * 3 // 2, IPC_MIN_CYCLE), IPCMNI)
        idx = next((c for c in range(self.last_idx + 1, max_idx) if c not in self.objects), -1)
        if idx < 0:
            idx = next((c for c in range(0, min(self.last_idx + 1, max_idx))
                        if c not in self.objects), -1)
        if idx < 0:
            raise KernelError(E.ENOSPC, "no free IPC index")
        if idx <= self.last_idx:
            self.seq += 1
            if self.seq >= IPCID_SEQ_MAX:
                self.seq = 0
        self.last_idx = idx
        obj.seq = self.seq
        obj.id = self.seq * IPCMNI + idx
        self.objects[idx] = obj
        if obj.key != IPC_PRIVATE:
            self.keys[obj.key] = idx
        return obj.id

    def find(self, ident: int) -> IPCObject:
        """ipc_obtain_object_check: the object of id ``ident``; EINVAL for none or a stale
        sequence."""
        if ident < 0:
            raise KernelError(E.EINVAL, "negative id")
        obj = self.objects.get(ident % IPCMNI)
        if obj is None or obj.id != ident:
            raise KernelError(E.EINVAL, f"no IPC object {ident}")
        return obj

    def by_key(self, key: int) -> IPCObject | None:
        idx = self.keys.get(key)
        return None if idx is None else self.objects[idx]

    def remove(self, obj: IPCObject) -> None:
        """ipc_rmid: the object leaves the namespace (its id and key are free again)."""
        obj.deleted = True
        if self.objects.get(obj.index) is obj:
            del self.objects[obj.index]
        if obj.key != IPC_PRIVATE and self.keys.get(obj.key) == obj.index:
            del self.keys[obj.key]
        obj.key = IPC_PRIVATE  # a segment still attached shows key 0 (shm_destroy's marking)

    def by_index(self, idx: int) -> IPCObject:
        """*_STAT's lookup by index (ipc_obtain_object_idr): EINVAL for an empty slot."""
        obj = self.objects.get(idx)
        if obj is None:
            raise KernelError(E.EINVAL, f"no IPC object at index {idx}")
        return obj

    def max_idx(self) -> int:
        """ipc_get_maxidx: the highest index in use, -1 for none."""
        return max(self.objects) if self.objects else -1


@state_class
class IPCNamespace:
    """ipc_namespace: the three System V registries, the POSIX message queues by name, and the
    limits (the /proc/sys/kernel knobs, Linux's defaults)."""

    __state__ = {"shm": "@IPCIds", "sem": "@IPCIds", "msg": "@IPCIds",
                 "mqueues": "dict[str,@MQueue]", "shm_ctlmax": "int", "shm_ctlall": "int",
                 "shm_ctlmni": "int", "shm_tot": "int", "sem_ctls": "[int,int,int,int]",
                 "msg_ctlmax": "int", "msg_ctlmnb": "int", "msg_ctlmni": "int",
                 "mq_queues_max": "int", "mq_msg_max": "int", "mq_msgsize_max": "int",
                 "mq_msg_default": "int", "mq_msgsize_default": "int", "mq_queues_count": "int",
                 "sem_used": "int", "userns": "~int"}
    userns = 0  # the user namespace that owns it (its creator's)

    def __init__(self):
        self.shm = IPCIds()
        self.sem = IPCIds()
        self.msg = IPCIds()
        self.mqueues: dict = {}
        self.shm_ctlmax = SHMMAX
        self.shm_ctlall = SHMALL
        self.shm_ctlmni = SHMMNI
        self.shm_tot = 0  # pages of the segments that exist
        self.sem_ctls = [SEMMSL, SEMMNS, SEMOPM, SEMMNI]
        self.msg_ctlmax = MSGMAX
        self.msg_ctlmnb = MSGMNB
        self.msg_ctlmni = MSGMNI
        self.mq_queues_max = DFLT_QUEUESMAX
        self.mq_msg_max = DFLT_MSGMAX
        self.mq_msgsize_max = DFLT_MSGSIZEMAX
        self.mq_msg_default = DFLT_MSGMAX
        self.mq_msgsize_default = DFLT_MSGSIZEMAX
        self.mq_queues_count = 0
        self.sem_used = 0  # semaphores in all sets (SEMMNS)

    def unlink_queue(self, name: str) -> None:
        """The message queue ``name`` loses its name (mq_unlink, or unlink(2) in an mqueue
        mount): open descriptions keep it."""
        q = self.mqueues.pop(name)
        self.mq_queues_count -= 1
        q.unlinked = True


@state_class
class IPCRegistry:
    """Every IPC namespace (by number) and the next object wait key."""

    __state__ = {"namespaces": "dict[int,@IPCNamespace]", "next_ns": "int", "next_wait_key": "int",
                 "undo_lists": "~set[int]"}

    def __init__(self):
        self.namespaces: dict[int, IPCNamespace] = {0: IPCNamespace()}
        self.next_ns = 1
        self.next_wait_key = 1
        # thread groups holding a SEM_UNDO list (Linux's sysvsem.undo_list, made by the first
        # semop with SEM_UNDO, kept until exit_sem): what kcmp(KCMP_SYSVSEM) compares
        self.undo_lists: set[int] = set()


def registry(world) -> IPCRegistry:
    reg = world.index.ipc
    if reg is None:
        reg = world.index.ipc = IPCRegistry()
    return reg


def namespace_of(world, t: int) -> IPCNamespace:
    """The IPC namespace of task ``t``."""
    return registry(world).namespaces[int(world.tasks.ipcns[t])]


def new_namespace(world, userns: int = 0) -> int:
    """create_ipc_ns: a new, empty IPC namespace's number, owned by user namespace ``userns``."""
    reg = registry(world)
    n = reg.next_ns
    reg.next_ns += 1
    ns = reg.namespaces[n] = IPCNamespace()
    ns.userns = userns
    return n


def new_wait_key(world) -> int:
    reg = registry(world)
    k = reg.next_wait_key
    reg.next_wait_key += 1
    return k


# -- permissions ------------------------------------------------------------------------------------

def ipcperms(world, t: int, obj: IPCObject, flag: int) -> bool:
    """ipcperms: may ``t`` access ``obj`` for ``flag`` (S_IRUGO/S_IWUGO bits, 0 to ask nothing)?
    The owner's or creator's bits, the group's, the others'; else CAP_IPC_OWNER."""
    T = world.tasks
    euid, egid = int(T.euid[t]), int(T.egid[t])
    requested = (flag >> 6 | flag >> 3 | flag) & 7
    granted = obj.mode
    if euid in (obj.cuid, obj.uid):
        granted >>= 6
    elif egid in (obj.cgid, obj.gid):
        granted >>= 3
    if requested & ~granted & 7:
        return task_identity.ns_capable(world, t, _owner(world, t), CAP_IPC_OWNER)
    return True


def _owner(world, t: int) -> int:
    """The user namespace owning ``t``'s IPC namespace (capabilities over its objects)."""
    return int(registry(world).namespaces[int(world.tasks.ipcns[t])].userns)


def is_owner_or_admin(world, t: int, obj: IPCObject) -> bool:
    """ipcctl_obtain_check's test for IPC_SET and IPC_RMID: the owner, the creator, or
    CAP_SYS_ADMIN."""
    euid = int(world.tasks.euid[t])
    return euid in (obj.cuid, obj.uid) or task_identity.ns_capable(world, t, _owner(world, t),
                                                                   CAP_SYS_ADMIN)


def set_perm(obj: IPCObject, uid: int, gid: int, mode: int) -> None:
    """ipc_update_perm."""
    obj.uid = uid
    obj.gid = gid
    obj.mode = (obj.mode & ~0o777) | (mode & 0o777)


def ipcget(world, t: int, ids: IPCIds, key: int, flags: int, create, check) -> int:
    """ipcget: IPC_PRIVATE makes a new object; a key finds one (ENOENT without IPC_CREAT,
    EEXIST with IPC_CREAT|IPC_EXCL) whose permissions and kind-specific ``check(obj)`` must
    pass, or makes one under IPC_CREAT. ``create()`` builds and adds a new object (its id)."""
    if key == IPC_PRIVATE:
        return create()
    obj = ids.by_key(key)
    if obj is None:
        if not flags & IPC_CREAT:
            raise KernelError(E.ENOENT, f"no IPC object with key {key:#x}")
        return create()
    if flags & IPC_CREAT and flags & IPC_EXCL:
        raise KernelError(E.EEXIST, f"key {key:#x} exists")
    if not ipcperms(world, t, obj, flags):
        raise KernelError(E.EACCES, "permission denied")
    check(obj)
    return obj.id


# -- waiting on an object --------------------------------------------------------------------------

def channel(obj: IPCObject) -> int:
    """The io_waits fd of a wait on ``obj``: never a file descriptor's number."""
    return -2 - obj.wait_key


def waiting_on(world, t: int, obj: IPCObject) -> bool:
    """Does task ``t`` still wait on ``obj`` (blocked, or stopped while blocked, on its
    channel)?"""
    T = world.tasks
    if t >= T.n or not T.alive[t] or T.exit_state[t] != ExitState.NONE \
            or T.run_state[t] != RunState.blocked:
        return False
    b = int(T.block[t])
    if b == Block.STOPPED:
        if T.stop_run_state[t] != RunState.blocked:
            return False
        b = int(T.stop_block[t])
    if b != Block.POLL:
        return False
    W = world.io_waits
    mine = io_wait._rows(world, t)
    return bool(len(mine)) and bool((W.iw_fd[mine] == channel(obj)).any())


def live_waiters(world, obj: IPCObject) -> list[int]:
    """The tasks still waiting on ``obj``, oldest first; stale entries go."""
    out = []
    for t in list(obj.waiters):
        if waiting_on(world, t, obj):
            out.append(t)
        else:
            del obj.waiters[t]
    return out


def _set_result(world, t: int, ret: int) -> None:
    T = world.tasks
    T.ret[t] = ret
    if T.block[t] == Block.STOPPED:
        T.stop_run_state[t] = RunState.runSyscallExit
        T.stop_block[t] = Block.NONE
        return
    T.run_state[t] = RunState.runSyscallExit
    T.block[t] = Block.NONE


def complete(world, t: int, obj: IPCObject, ret: int) -> None:
    """End ``t``'s wait on ``obj`` with result ``ret`` (0, or -EIDRM)."""
    obj.waiters.pop(t, None)
    io_wait.finish(world, t)
    _set_result(world, t, ret)


def rerun(world, t: int, obj: IPCObject) -> None:
    """Make ``t`` run its call again (its io_waits rows stay: the call finds its deadline)."""
    obj.waiters.pop(t, None)
    _set_result(world, t, -ERESTARTNOINTR)


def wake_removed(world, obj: IPCObject) -> None:
    """IPC_RMID (freeary, freeque): every waiter's call fails with EIDRM."""
    for t in live_waiters(world, obj):
        complete(world, t, obj, -E.EIDRM)
    obj.waiters.clear()


def rerunning(world, t: int) -> bool:
    """Is ``t``'s call one that waited and runs again?"""
    return io_wait.pending(world, t)


def creds_of(world, t: int) -> tuple[int, int]:
    T = world.tasks
    return int(T.euid[t]), int(T.egid[t])


def tgid_of(world, t: int) -> int:
    """The caller's process id as its own PID namespace sees it (sempid, shm_lpid, msg_lspid)."""
    T = world.tasks
    leader = int(world.thread_groups.leader[int(T.tg[t])])
    return int(T.tids[leader, int(world.pid_namespaces.level[int(T.ns[t])])])


def now_seconds(world) -> int:
    """CLOCK_REALTIME in seconds (the *_time fields)."""
    return (int(world.now_ns) + cpu_clocks.realtime_offset(world)) // 1_000_000_000


__all__ = ["IPCObject", "IPCIds", "IPCNamespace", "IPCRegistry", "registry", "namespace_of",
           "new_namespace", "new_wait_key", "ipcperms", "is_owner_or_admin", "set_perm", "ipcget",
           "channel", "waiting_on", "live_waiters", "complete", "rerun", "wake_removed",
           "rerunning", "creds_of", "tgid_of", "now_seconds", "S_IRUGO", "S_IWUGO"]
