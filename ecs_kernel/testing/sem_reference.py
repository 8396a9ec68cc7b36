"""A plain-Python model of one System V semaphore set, written from semop(2) and semctl(2) (and
Linux's ipc/sem.c for the order in which waiters are served), to check systems/ipc_sem.py
against (testing/sem.py's state machine).

What it models: values in 0..SEMVMX; an operation list applies all or nothing, in order (a later
operation sees an earlier one's effect); it blocks on the first operation that cannot go (a
negative one that would go below zero, a wait for zero on a non-zero value) unless that
operation says IPC_NOWAIT (EAGAIN); a value above SEMVMX or an undo adjustment outside
-SEMAEM-1..SEMAEM is ERANGE; waiting lists complete when they can, waits for zero first, each
group oldest first, looking again from the start after one that changed values; SEM_UNDO
adjustments per process are applied (clamped to 0..SEMVMX) when it exits; SETVAL and SETALL
clear the adjustments of what they set; IPC_RMID fails every waiter with EIDRM.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..abi import IPC_NOWAIT, SEM_UNDO, SEMAEM, SEMVMX
from ..errors import E

BLOCKED = "BLOCKED"


@dataclass
class RefWait:
    tid: int
    proc: int
    sops: list  # (num, op, flg)


@dataclass
class RefSemSet:
    nsems: int
    vals: list = field(default_factory=list)
    waits: list = field(default_factory=list)  # RefWait, in arrival order
    undo: dict = field(default_factory=dict)  # proc -> adjustments
    results: dict = field(default_factory=dict)  # tid -> the ret of a finished wait
    removed: bool = False

    def __post_init__(self):
        self.vals = [0] * self.nsems

    def _apply(self, proc: int, sops) -> int | None:
        """None if applied; the index of the blocking operation; or -errno (nothing changed)."""
        vals = list(self.vals)
        adj = list(self.undo.get(proc, [0] * self.nsems))
        for i, (num, op, flg) in enumerate(sops):
            if op == 0:
                if vals[num] != 0:
                    return i
                continue
            if vals[num] + op < 0:
                return i
            if vals[num] + op > SEMVMX:
                return -E.ERANGE
            if flg & SEM_UNDO:
                if not -SEMAEM - 1 <= adj[num] - op <= SEMAEM:
                    return -E.ERANGE
                adj[num] -= op
            vals[num] += op
        self.vals = vals
        if any(adj):
            self.undo[proc] = adj
        else:
            self.undo.pop(proc, None)
        return None

    def semop(self, tid: int, proc: int, sops):
        r = self._apply(proc, sops)
        if r is None:
            if any(op for _n, op, _f in sops):
                self._serve()
            return 0
        if r < 0:
            return ("errno", -r)
        if sops[r][2] & IPC_NOWAIT:
            return ("errno", E.EAGAIN)
        self.waits.append(RefWait(tid, proc, list(sops)))
        return BLOCKED

    def _serve(self) -> None:
        again = True
        while again:
            again = False
            zero = [w for w in self.waits if all(op == 0 for _n, op, _f in w.sops)]
            rest = [w for w in self.waits if w not in zero]
            for w in zero + rest:
                r = self._apply(w.proc, w.sops)
                if r is not None and r >= 0:
                    continue
                self.waits.remove(w)
                self.results[w.tid] = 0 if r is None else r
                if r is None and any(op for _n, op, _f in w.sops):
                    again = True
                    break

    def interrupt(self, tid: int) -> None:
        self.waits = [w for w in self.waits if w.tid != tid]

    def setval(self, num: int, val: int):
        if not 0 <= val <= SEMVMX:
            return ("errno", E.ERANGE)
        self.vals[num] = val
        for adj in self.undo.values():
            adj[num] = 0
        self.undo = {p: a for p, a in self.undo.items() if any(a)}
        self._serve()
        return 0

    def exit(self, proc: int, tids) -> None:
        self.waits = [w for w in self.waits if w.tid not in tids]
        adj = self.undo.pop(proc, None)
        if adj:
            self.vals = [min(max(v + a, 0), SEMVMX) for v, a in zip(self.vals, adj)]
            self._serve()

    def rmid(self) -> None:
        for w in self.waits:
            self.results[w.tid] = -E.EIDRM
        self.waits = []
        self.undo = {}
        self.removed = True

    def count(self, num: int, zero: bool) -> int:
        """GETZCNT / GETNCNT: waiters whose blocking operation is on ``num``."""
        n = 0
        for w in self.waits:
            vals = list(self.vals)
            for i, (snum, op, _flg) in enumerate(w.sops):
                if (op == 0 and vals[snum]) or (op != 0 and vals[snum] + op < 0):
                    if snum == num and ((op == 0) if zero else (op < 0)):
                        n += 1
                    break
                vals[snum] += op
        return n


__all__ = ["RefSemSet", "RefWait", "BLOCKED"]
