"""Fork children on recycled engines (cpu/platform.py EnginePool): a dead process's engine, with
the code it translated, serves a later fork child of the same program. A child must never run
a translation of bytes it does not hold: code its parent rewrote after an earlier fork, code a
dead child rewrote with a store or through the kernel (read() into the page). Natively, with
the pool, and without it, the same output; a planted bug that keeps every translation fails."""
from ecs_kernel.cpu import memory as M
from ecs_kernel.cpu import platform as P
from tests.guests.harness import run_guest, run_native


def _run(p, args, monkeypatch, capacity=None, keep_all=False):
    machines = []
    with monkeypatch.context() as mp:
        if capacity is not None:
            init = P.EnginePool.__init__
            mp.setattr(P.EnginePool, "__init__",
                       lambda self, platform, capacity_=capacity: init(self, platform, capacity_))
        if keep_all:  # the planted bug: every executable region's code counts as the same
            mp.setattr(M.AddressSpace, "_code_tag", lambda self, i, clean=None: ("same", 0))
        guest = run_guest([p, *args], report=machines.append)
    return guest, machines[0].platform.engine_pool.stats


def test_a_recycled_engine_never_runs_code_the_child_does_not_hold(guest_build, monkeypatch):
    p = guest_build("recycle")
    native = run_native([p, "12"])
    assert native.status == 0 and b"child 0, second child 0, parent 0" in native.stdout
    pooled, stats = _run(p, ["12"], monkeypatch)
    unpooled, stats0 = _run(p, ["12"], monkeypatch, capacity=0)
    assert pooled.stdout == unpooled.stdout == native.stdout, pooled.stdout
    assert pooled.status == unpooled.status == 0, pooled.stderr
    # nearly every child ran on a dead one's engine, and its rewritten code page was flushed
    assert stats["recycled"] >= 20 and stats["regions_flushed"] >= 20, stats
    assert stats["regions_kept"] > stats["regions_flushed"], stats  # the program's own text
    assert stats0["recycled"] == 0


def test_keeping_every_translation_is_caught(guest_build, monkeypatch):
    """The planted bug (code tags that always match) runs stale code: the test above would fail."""
    p = guest_build("recycle")
    native = run_native([p, "4"])
    bad, stats = _run(p, ["4"], monkeypatch, keep_all=True)
    assert stats["recycled"] > 0 and stats["regions_flushed"] == 0
    assert bad.stdout != native.stdout


def test_fork_heavy_shell_reuses_engines(guest_build, monkeypatch):
    """A shell's subshells: every child after the first runs on a recycled engine, and keeps
    the shell's text translated."""
    import shutil
    bash = shutil.which("bash-static") or shutil.which("bash")
    script = "i=0; while ((i<6)); do (echo $i); ((i++)); done"
    native = run_native([bash, "-c", script])
    guest, stats = _run(bash, ["-c", script], monkeypatch)
    assert guest.stdout == native.stdout == b"0\n1\n2\n3\n4\n5\n"
    assert guest.status == 0, guest.stderr
    assert stats["recycled"] >= 5, stats
