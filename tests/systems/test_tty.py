"""systems/tty.py: the console's kernel state (tty_jobctrl.c) on a World without guests.

The guest-visible behaviour (stops, errnos, /dev/tty, /proc) is compared with Linux in
tests/guests/test_tty.py; here: who has the terminal after fork, setsid and exits, and what a
session leader's exit sends."""
import pytest

from ecs_kernel.abi import SIGCONT, SIGHUP, SIGTTOU
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import tty
from ecs_kernel.systems.task_list import task_list


def console_kernel():
    """init and a job in its own group, the job in front, as ``ecs-kernel run`` on a terminal."""
    k = Kernel()
    job = k.fork(k.init_task)
    k.setpgid(job, 0, 0)
    w = k.world
    row = k.task(job)
    tty.attach(w, tty.session_of(w, row), int(w.thread_groups.pgrp[int(w.tasks.tg[row])]))
    return k, job


def test_fork_inherits_the_terminal_and_setsid_drops_it():
    k, job = console_kernel()
    w = k.world
    child = k.fork(job)
    assert tty.has_console(w, k.task(child))
    assert tty.tiocgpgrp(w, k.task(child)) == k.getpid(job)
    k.setsid(child)
    assert not tty.has_console(w, k.task(child))
    with pytest.raises(KernelError) as e:
        tty.tiocgpgrp(w, k.task(child))
    assert e.value.errno == E.ENOTTY
    check_sanity(w)


def test_tcsetpgrp_checks_and_the_background_stop():
    k, job = console_kernel()
    w = k.world
    bg = k.fork(job)
    k.setpgid(bg, 0, 0)
    other = k.fork(job)
    k.setsid(other)
    row = k.task(job)
    for pgid, errno in ((-1, E.EINVAL), (99999, E.ESRCH), (k.getpid(other), E.EPERM)):
        with pytest.raises(KernelError) as e:
            tty.tiocspgrp(w, row, pgid)
        assert e.value.errno == errno
    # from the background: SIGTTOU to the caller's group, and the call is to run again
    with pytest.raises(KernelError) as e:
        tty.tiocspgrp(w, k.task(bg), k.getpid(bg))
    assert e.value.errno == 512  # ERESTARTSYS
    tg = int(w.tasks.tg[k.task(bg)])
    assert int(w.thread_groups.group_pending[tg]) >> (SIGTTOU - 1) & 1
    # the foreground hands it over; a freed group is nobody's foreground
    tty.tiocspgrp(w, row, k.getpid(bg))
    assert tty.tiocgpgrp(w, row) == k.getpid(bg)
    stats = dict(zip(task_list(w).pid.tolist(), task_list(w).stats()))
    assert stats[k.getpid(bg)] == "R+" and stats[k.getpid(job)] == "R"  # ps's foreground flag
    k.exit(bg, 0)
    k.tick()
    k.wait4(job, k.getpid(bg), 0)
    assert tty.tiocgpgrp(w, row) == 0
    check_sanity(w)


def test_a_session_leader_that_took_the_terminal_hangs_up_its_foreground_on_exit():
    k, job = console_kernel()
    w = k.world
    leader = k.fork(job)
    k.setsid(leader)
    with pytest.raises(KernelError) as e:  # another session's terminal
        tty.tiocsctty(w, k.task(leader), 0, readable=True)
    assert e.value.errno == E.EPERM
    tty.tiocsctty(w, k.task(leader), 1, readable=True)  # stolen: root has CAP_SYS_ADMIN
    assert not tty.has_console(w, k.task(job))
    member = k.fork(leader)
    assert tty.tiocgpgrp(w, k.task(member)) == k.getpid(leader)
    k.setpgid(member, 0, 0)
    tty.tiocspgrp(w, k.task(leader), k.getpid(member))
    k.exit(leader, 0)
    k.tick()
    mtg = int(w.tasks.tg[k.task(member)])
    pending = int(w.thread_groups.group_pending[mtg]) | int(w.tasks.sig_pending[k.task(member)])
    assert pending >> (SIGHUP - 1) & 1 and not pending >> (SIGCONT - 1) & 1
    assert not tty.has_console(w, k.task(member))
