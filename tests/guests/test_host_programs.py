"""Programs we did not write: Debian's busybox-static applets (no fork needed) and dynamically
linked host programs through their ld.so, natively and under ecs-kernel."""
import shutil

import pytest

from tests.guests.harness import run_guest, run_native

BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.usefixtures("busybox")  # fails when busybox is missing


def same(argv, stdin=b"", env=None):
    native = run_native(argv, stdin=stdin, env=env)
    guest = run_guest(argv, stdin=stdin, env=env)
    assert guest.stdout == native.stdout
    assert guest.status == native.status, guest.stderr
    return guest


@needs_busybox
@pytest.mark.parametrize("args,stdin", [
    (["echo", "hello", "from", "busybox"], b""),
    (["cat", "/etc/passwd"], b""),
    (["cat"], b"stdin through cat\n"),
    (["wc", "/etc/passwd"], b""),
    (["wc", "-c"], b"12345"),
    (["sort"], b"pear\napple\nfig\n"),
    (["sort", "-r", "/etc/passwd"], b""),
    (["seq", "1", "3", "20"], b""),
    (["expr", "6", "*", "7"], b""),
    (["expr", "1", "=", "2"], b""),
    (["sha256sum", "/etc/passwd"], b""),
    (["sha256sum"], b"abc"),
    (["head", "-n", "3", "/etc/passwd"], b""),
    (["tr", "a-z", "A-Z"], b"shout\n"),
    (["basename", "/usr/bin/python3"], b""),
    (["true"], b""),
    (["false"], b""),
])
def test_busybox_applet(args, stdin):
    same([BUSYBOX, *args], stdin=stdin)


@needs_busybox
def test_busybox_ls_of_tmp_is_empty():
    # The guest's /tmp is its own empty directory, whatever the host's holds.
    r = run_guest([BUSYBOX, "ls", "-a", "/tmp"])
    assert r.status == 0 and r.stdout.split() == [b".", b".."]


@needs_busybox
def test_busybox_writes_stay_in_the_overlay():
    r = run_guest([BUSYBOX, "sh", "-c", "echo x > /etc/ecs-overlay-probe"])
    import os
    assert not os.path.exists("/etc/ecs-overlay-probe")
    del r


@pytest.mark.parametrize("argv", [
    ["/bin/true"],
    ["/bin/false"],
    ["/bin/echo", "dynamically", "linked"],
    ["/bin/ls", "/"],
    ["/bin/ls", "-l", "/etc/passwd"],
    ["/usr/bin/sort", "/etc/passwd"],
    ["/bin/cat", "/etc/hostname"],
])
def test_dynamic_host_program(argv):
    same(argv)


def test_dynamic_sort_stdin():
    same(["/usr/bin/sort", "-n"], stdin=b"10\n9\n100\n")


def test_python3():
    r = same(["/usr/bin/python3", "-c", "print(6*7)"])
    assert r.stdout == b"42\n"


def test_python3_reads_files_and_env():
    same(["/usr/bin/python3", "-c",
          "import os, sys; print(sorted(os.environ.items()), sys.argv, os.getcwd(), "
          "len(open('/etc/passwd').read()) > 0, sys.getfilesystemencoding())", "x"],
         env={"LANG": "C.UTF-8", "K": "v"})


@pytest.mark.parametrize("argv", [
    ["/usr/bin/env", "A=1", "B=2", "/usr/bin/env"],
    ["/bin/sh", "-c", "exec /bin/echo exec from sh"],
    ["/usr/bin/env", "/nonexistent/program"],
    ["/usr/bin/env", "/etc"],
    ["/usr/bin/python3", "-c", "import os; os.execv('/bin/sh', ['sh', '-c', 'echo $0; exit 5'])"],
])
def test_execve_replaces_the_image(argv):
    same(argv)


@needs_busybox
def test_busybox_exec_chain():
    same([BUSYBOX, "env", "X=y", BUSYBOX, "sh", "-c", "exec " + BUSYBOX + " printenv X"])


def test_python3_asyncio_event_loop():
    # asyncio: a socketpair self-pipe, epoll, timers; add_reader on a pipe.
    same(["/usr/bin/python3", "-c", """
import asyncio, os, time
async def main():
    t = time.monotonic(); await asyncio.sleep(0.05); print('slept', time.monotonic() - t >= 0.05)
    r, w = os.pipe()
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.add_reader(r, lambda: fut.set_result(os.read(r, 10)))
    loop.call_later(0.02, os.write, w, b'ping')
    print(await fut)
    print(await asyncio.gather(*(asyncio.sleep(0.01, result=i) for i in range(5))))
asyncio.run(main())
"""])


SHELL_SCRIPT = ('echo a b c | wc -w; ls / | sort | head -3; x=$(echo sub); echo "got $x"; '
                '(exit 3); echo "status $?"; for i in 3 1 2; do echo $i; done | sort | tr "\\n" " "; '
                'echo; false || echo "or works"; echo done >&2')


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_shell_pipelines_and_subshells(shell):
    """Shells fork for pipelines, command substitution and subshells."""
    g = same([shell, "-c", SHELL_SCRIPT])
    assert b"got sub" in g.stdout


@needs_busybox
def test_busybox_sh_pipeline():
    same([BUSYBOX, "sh", "-c", "seq 1 100 | grep 7 | wc -l"])


def test_python_subprocess():
    """subprocess uses vfork-style clone and an error pipe; os.fork and waitpid."""
    script = ("import subprocess, os\n"
              "print(subprocess.run(['/bin/echo', 'hi'], capture_output=True).stdout)\n"
              "print(subprocess.check_output('echo x | tr x y', shell=True))\n"
              "try:\n    subprocess.run(['/no/such'])\nexcept FileNotFoundError as e:\n"
              "    print('FNF', e.errno)\n"
              "r = os.fork()\nif r == 0:\n    os._exit(5)\nprint(os.waitpid(r, 0)[1] >> 8)\n")
    same(["/usr/bin/python3", "-c", script])


def test_python_threads():
    """threading, a timer thread with timed futex waits on the host's monotonic clock, a pool."""
    script = ("import threading, queue\n"
              "from concurrent.futures import ThreadPoolExecutor\n"
              "q = queue.Queue()\n"
              "ts = [threading.Thread(target=lambda i=i: q.put(i * i)) for i in range(8)]\n"
              "[t.start() for t in ts]; [t.join() for t in ts]\n"
              "print(sorted(q.get() for _ in range(8)))\n"
              "ev = threading.Event(); threading.Timer(0.05, ev.set).start(); print(ev.wait(5))\n"
              "with ThreadPoolExecutor(4) as ex:\n    print(sum(ex.map(lambda x: x * 2, range(100))))\n")
    same(["/usr/bin/python3", "-c", script])


# One shell starts `tail -f` in the background, appends to the file from another process, and
# stops tail: what tail printed shows it saw the append (busybox's tail polls the file every
# second; coreutils' waits on inotify, woken by the append's IN_MODIFY: told to poll only every
# 30 s, it sees the append in time only through inotify).
TAIL_F = ('echo one > {d}/f; {tail} -f {d}/f & p=$!; sleep 0.3; echo two >> {d}/f; sleep 1.5; '
          'kill $p; wait; echo done')


@needs_busybox
@pytest.mark.parametrize("tail", ["busybox tail", "/usr/bin/tail -s 30"])
def test_tail_f_sees_an_append_by_another_process(tail, tmp_path):
    script = TAIL_F.format(tail=tail, d="/tmp")
    guest = run_guest([BUSYBOX, "sh", "-c", script], env={"PATH": "/usr/bin:/bin"})
    native = run_native([BUSYBOX, "sh", "-c", TAIL_F.format(tail=tail, d=tmp_path)],
                        env={"PATH": "/usr/bin:/bin"})
    assert native.stdout == b"one\ntwo\ndone\n"
    assert guest.stdout == native.stdout, guest.stderr
    assert guest.status == native.status == 0
