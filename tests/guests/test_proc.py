"""/proc, /sys and the CPU count as programs see them, natively and under ecs-kernel (issue 17).

procview.c prints a process tree's /proc view with ids as roles (the parent P with a thread T,
a child A that exec'd itself and sleeps, a zombie Z), every way to count CPUs, and
sched_setaffinity's answers; Linux's output is the oracle. Then the tools: busybox and procps
``ps``, ``df``, ``nproc``, ``ls -f``.
"""
import os
import shutil

import pytest

from tests.guests.harness import run_guest, run_native

BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.usefixtures("busybox")  # fails when busybox is missing
HOST_CPUS = len(os.sched_getaffinity(0))


def same(argv, **kw):
    native = run_native(argv, cwd="/var/tmp", **kw)
    guest = run_guest(argv, cwd="/var/tmp", **kw)
    assert guest.stdout.decode() == native.stdout.decode()
    assert guest.status == native.status == 0, guest.stderr
    return guest


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_proc_shows_every_task_of_the_process_tree(guest_build, libc):
    out = same([guest_build("procview", libc), "tree"]).stdout.decode()
    # what the oracle said, so a vacuous match cannot pass
    assert "[Z]\nstat: pid=Z comm=procview-" in out and "state=Z ppid=P" in out
    assert "listed: P=1 A=1 Z=1 T=0" in out and "task/: P T" in out
    assert "cmdline: procview-" in out and "|sleeper|arg two|" in out


@pytest.mark.parametrize("scenario", ["cpus", "affinity"])
def test_cpu_counts_and_affinity(guest_build, scenario):
    if HOST_CPUS < 2 and scenario == "affinity":
        pytest.skip("needs two CPUs to move between")
    out = same([guest_build("procview", "gcc"), scenario]).stdout.decode()
    if scenario == "cpus":
        assert f"affinity {HOST_CPUS}\n" in out and f"sysconf onln {HOST_CPUS} " in out


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_every_cpu_count_follows_the_cpus_the_kernel_models(guest_build, libc):
    r = run_guest([guest_build("procview", libc), "cpus"], cpus=3)
    assert r.status == 0, r.stderr
    assert r.stdout.decode() == (
        "sysconf onln 3 conf 3\nget_nprocs 3 conf 3\naffinity 3\ncpuinfo processors 3\n"
        "stat cpuN lines 3\nonline 0-2\npossible 0-2\nCpus_allowed_list 0-2\n")


def test_sysinfo_and_proc_agree(guest_build):
    """sysinfo(2) and /proc/loadavg, /proc/uptime count the same tasks and time (a guest-only
    check: natively other processes come and go between two reads); the averages' arithmetic
    is tests/systems/test_loadavg.py's."""
    r = run_guest([guest_build("procview", "gcc"), "load"])
    assert r.stdout.decode() == ("tasks: loadavg 3 sysinfo 3\nload 0 agrees: 1\nload 1 agrees: 1\n"
                                 "load 2 agrees: 1\nuptime agrees: 1\n"
                                 "last pid is the newest child: 1\n"), r.stderr


# -- the tools -------------------------------------------------------------------------------------

def guest_sh(script: str):
    r = run_guest(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin"})
    assert r.status == 0, r.stderr
    return r.stdout.decode()


# Start ``sleep 30`` in the background and wait (shell builtins only) until it sleeps.
SLEEPER = ('sleep 30 & until read -r st < /proc/$!/stat && case "$st" in *"(sleep) S "*) true;; '
           '*) false;; esac; do :; done; ')


@needs_busybox
def test_busybox_ps_lists_every_guest_process():
    out = guest_sh(f"{SLEEPER} echo $$ $!; {BUSYBOX} ps -o pid,ppid,stat,comm,args; kill $!")
    sh, sleeper = out.split("\n", 1)[0].split()
    rows = {cols[0]: cols for cols in (line.split(None, 4) for line in out.splitlines()[2:])}
    assert rows[sleeper][1:] == [sh, "S", "sleep", "sleep 30"]
    assert rows[sh][1:4] == ["1", rows[sh][2], "sh"]  # comm: the name exec was given (/bin/sh)
    ps = [r for r in rows.values() if r[3] == "busybox"]
    assert len(ps) == 1 and ps[0][1] == sh and ps[0][2] == "R"
    assert len(rows) == 3


def test_procps_ps_ef_finds_the_boot_time_and_every_process():
    out = guest_sh(f"{SLEEPER} ps -ef; kill $!")
    header, *lines = out.splitlines()
    assert header.split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    rows = [line.split(None, 7) for line in lines]
    assert [r[7] for r in rows][1:] == ["sleep 30", "ps -ef"]
    assert rows[0][7].startswith("/bin/sh -c sleep 30 &")
    sh = rows[0][1]
    assert [r[2] for r in rows] == ["1", sh, sh] and all(r[6] == "00:00:00" for r in rows[1:])


@needs_busybox
def test_df_finds_the_mount_table():
    for df in (["df"], [BUSYBOX, "df"]):
        out = guest_sh(" ".join(df))
        mounts = [line.split()[-1] for line in out.splitlines()[1:]]
        assert mounts == ["/", "/tmp", "/dev"], out  # proc and sysfs hold no blocks
    # the file system types match Linux's names for them
    assert guest_sh("stat -f -c %T / /tmp /proc /sys") == "overlayfs\ntmpfs\nproc\nsysfs\n"
    assert run_native(["stat", "-f", "-c", "%T", "/proc", "/sys"]).stdout == b"proc\nsysfs\n"
    assert guest_sh("findmnt -n -o TARGET,FSTYPE /proc") == "/proc  proc\n"


def test_nproc_is_the_hosts():
    assert guest_sh("nproc") == run_native(["nproc"]).stdout.decode() == f"{HOST_CPUS}\n"


def test_listings_keep_the_hosts_order():
    for d in ("/usr/lib", "/etc"):
        native = run_native(["ls", "-f", d]).stdout
        assert run_guest(["/bin/ls", "-f", d]).stdout == native
        assert native.splitlines() != sorted(native.splitlines())


def test_proc_self_status_has_every_field_of_linux_in_its_order(guest_build):
    """status_fields.c: the names of /proc/self/status's fields in order (Kthread, HugetlbPages,
    CoreDumping, THP_enabled, untag_mask, the Speculation lines, Mems_allowed and the context
    switch counts were missing), the values that do not depend on the host, and a sleep counted
    as a voluntary switch."""
    out = same([guest_build("status_fields", "gcc")]).stdout.decode()
    assert "voluntary_ctxt_switches\nnonvoluntary_ctxt_switches\n" in out
