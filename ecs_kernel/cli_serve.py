"""``ecs-kernel serve`` and ``ecs-kernel run --server``: an opt-in warm server for start-up.

    ecs-kernel serve [--socket PATH]                 keep a process with the kernel loaded
    ecs-kernel run --server [OPTIONS] -- PROGRAM...  run PROGRAM in a fork of that process

A fresh ``ecs-kernel run`` spends most of a short program's life loading Python, numpy, Unicorn
and the kernel's modules (docs/measurements.md, start-up). ``serve`` loads them once, then waits
on a UNIX socket; each ``run --server`` is a small client (it imports neither numpy nor the
kernel) that hands the server its stdin, stdout and stderr (SCM_RIGHTS), its command line, its
environment, working directory, umask and resource limits. The server forks a child per request;
the child takes the client's fds as 0-2, its environment, directory, umask and limits, and runs
the command line as ``ecs-kernel run`` would (the same parser, options and exit status). The
server tells the client the child's pid at once and its exit status at the end; the client exits
with that status (128+N when signal N killed the child).

Nothing starts behind the user's back: without ``--server`` a run never looks for a server, and
``run --server`` without one fails (status 2) instead of starting one.

Signals: the client forwards those a terminal sends to its job (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
SIGUSR1, SIGUSR2, SIGWINCH) to the child, whose run sends them to the guest's foreground job as a
plain run does (cpu/host_signals.py; a second Ctrl-C within a second still stops the run).
Ctrl-Z (SIGTSTP) stops the child (SIGSTOP) and then the client, and the shell's ``fg`` continues
both, as Ctrl-Z stops a plain run. A client that dies (SIGKILL) takes its run with it: the server
kills the child when the client's end of the socket closes. The child is in a session of its own:
a host terminal among its stdio is not its controlling terminal, which changes nothing the guest
sees (the guest's console is the kernel's, systems/tty.py); the terminal's settings are put back
at the end as by a plain run.

The server serves the code it loaded: it refuses a request (status 2: restart it) from another
checkout's client or once a source file it loaded has changed (their modification times, checked
at each request). Only the server's own user may connect (the socket is in a directory only
that user may enter, and the server checks the peer's uid, SO_PEERCRED).

The socket: ``--socket PATH``, else ``$ECS_KERNEL_SOCKET``, else ``$XDG_RUNTIME_DIR/ecs-kernel.sock``,
else ``/tmp/ecs-kernel-UID/serve.sock``.
"""
from __future__ import annotations

import array
import os
import signal
import socket
import struct
import sys
import time

PROTOCOL = b"ecs-kernel-serve/1"
STDIO = (0, 1, 2)
# What a terminal sends to its foreground job, forwarded to the run (cpu/host_signals.FORWARDED,
# restated as the host's numbers: the client must not import the kernel).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH)
EXIT_USAGE = 2        # no server, a stale one, a refused request
EXIT_LOST = 70        # EX_SOFTWARE: the server went away before the run's status came
REQUEST_TIMEOUT_S = 10  # for a client's request to arrive whole once it has connected
_LEN = struct.Struct("<I")
_MAX_REQUEST = 16 << 20


# -- where, and which code -------------------------------------------------------------------------

def socket_path(given: str | None = None) -> str:
    if given:
        return given
    env = os.environ.get("ECS_KERNEL_SOCKET")
    if env:
        return env
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "ecs-kernel.sock")
    return f"/tmp/ecs-kernel-{os.getuid()}/serve.sock"


def package_dir() -> bytes:
    """Which ecs-kernel this is: its package directory (a client and its server must agree)."""
    return os.fsencode(os.path.dirname(os.path.abspath(__file__)))


def loaded_sources() -> dict[str, int]:
    """The package's source files this process has loaded, with their modification times."""
    out = {}
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f and (name == "ecs_kernel" or name.startswith("ecs_kernel.")):
            try:
                out[f] = os.stat(f).st_mtime_ns
            except OSError:
                out[f] = -1
    return out


def changed_sources(loaded: dict[str, int]) -> list[str]:
    """Those of ``loaded`` that changed (or went) since (~0.3 ms for the ~160 of a run)."""
    out = []
    for f, mtime in loaded.items():
        try:
            now = os.stat(f).st_mtime_ns
        except OSError:
            now = -1
        if now != mtime:
            out.append(f)
    return out


# The options of `run` that take a value (cli_run.add_run_parser; tests/test_cli_serve.py holds
# the two together): server_option_at skips their values.
RUN_VALUE_OPTIONS = frozenset({
    "--root", "--cwd", "--env", "--cpus", "-e", "-o", "--seed", "--record", "--memory", "--pids",
    "--checkpoint-at", "--checkpoint-on", "--checkpoint-to"})


def server_option_at(given: list[str]) -> int | None:
    """The index of run's ``--server`` option in ``given`` (``["run", ...]``), found without
    argparse (the client's start-up): options are scanned up to ``--`` or the program; None when
    it is not there as written in full (argparse, which also takes abbreviations, then decides:
    cli.main falls back to it)."""
    i = 1
    while i < len(given):
        tok = given[i]
        if tok == "--server":
            return i
        if tok == "--" or not tok.startswith("-") or tok == "-":
            return None
        if tok in RUN_VALUE_OPTIONS:
            i += 1
        i += 1
    return None


# -- the request: a list of byte strings -----------------------------------------------------------

def pack(items: list[bytes]) -> bytes:
    out = [_LEN.pack(len(items))]
    for it in items:
        out += [_LEN.pack(len(it)), it]
    body = b"".join(out)
    return _LEN.pack(len(body)) + body


def unpack(body: bytes) -> list[bytes]:
    """The byte strings of a request body; ValueError for a malformed one."""
    (n,), off, items = _LEN.unpack_from(body, 0), _LEN.size, []
    for _ in range(n):
        (k,) = _LEN.unpack_from(body, off)
        off += _LEN.size
        if off + k > len(body):
            raise ValueError("truncated request")
        items.append(body[off:off + k])
        off += k
    if off != len(body):
        raise ValueError("trailing bytes in the request")
    return items


def _refuse(conn, fds: list[int], why: bytes) -> None:
    """Tell the client why its run cannot be (an ``error`` line) and let its fds go."""
    try:
        conn.sendall(b"error %s\n" % why)
    except OSError:
        pass
    conn.close()
    for fd in fds:
        os.close(fd)


class Request:
    """What a client sends: its command line (``run``'s arguments), environment, working
    directory, umask, resource limits and which of fds 0-2 it had open (and passes)."""

    def __init__(self, args, env, cwd, umask, rlimits, present, stamp=b""):
        self.args, self.env, self.cwd, self.umask = list(args), list(env), cwd, umask
        self.rlimits, self.present, self.stamp = list(rlimits), tuple(present), stamp

    def encode(self) -> bytes:
        head = [PROTOCOL, self.stamp, self.cwd if self.cwd is not None else b"\0",
                b"%d" % self.umask, bytes(self.present),
                b" ".join(b"%d:%d:%d" % r for r in self.rlimits), b"%d" % len(self.args)]
        return pack(head + self.args + self.env)

    @classmethod
    def decode(cls, body: bytes) -> "Request":
        items = unpack(body)
        if len(items) < 7 or items[0] != PROTOCOL:
            raise ValueError("not a request of this protocol")
        _, stamp, cwd, umask, present, limits, nargs = items[:7]
        n = int(nargs)
        if n > len(items) - 7 or any(b"\0" in a for a in items[7:]):
            raise ValueError("malformed request")
        rlimits = [tuple(int(x) for x in r.split(b":")) for r in limits.split()]
        return cls([os.fsdecode(a) for a in items[7:7 + n]], items[7 + n:],
                   None if cwd == b"\0" else cwd, int(umask), rlimits, tuple(present), stamp)


def _rlimits() -> list[tuple[int, int, int]]:
    import resource
    out = []
    for name in dir(resource):
        if name.startswith("RLIMIT_"):
            res = getattr(resource, name)
            try:
                soft, hard = resource.getrlimit(res)
            except (ValueError, OSError):
                continue
            out.append((res, soft, hard))
    return out


# -- the client ------------------------------------------------------------------------------------

def run_client(args: list[str], path: str | None = None) -> int:
    """``ecs-kernel run --server ARGS``: ask the server to run ``run ARGS`` with this process's
    stdio, environment and directory; return its exit status."""
    path = socket_path(path)
    present = tuple(fd for fd in STDIO if _is_open(fd))
    try:
        cwd = os.fsencode(os.getcwd())
    except OSError:
        cwd = None
    umask = os.umask(0o22)
    os.umask(umask)
    req = Request([os.fsencode(a) for a in args],
                  [k + b"=" + v for k, v in os.environb.items()], cwd, umask, _rlimits(),
                  present, package_dir())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        print(f"ecs-kernel run --server: no server at {path} ({e.strerror}; start one with "
              f"`ecs-kernel serve`)", file=sys.stderr)
        return EXIT_USAGE
    with sock:
        uid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  struct.calcsize("3i")))[1]
        if uid != os.getuid():  # our stdio and environment go to our own user's server only
            print(f"ecs-kernel run --server: the server at {path} is another user's (uid {uid})",
                  file=sys.stderr)
            return EXIT_USAGE
        data = req.encode()
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                      array.array("i", present))])
        if sent < len(data):
            sock.sendall(data[sent:])
        return _follow(sock)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _follow(sock) -> int:
    """Read the server's answers (``pid N``, then ``exit S`` or ``error TEXT``), forwarding
    signals to the child meanwhile."""
    child = [0]
    early = []

    def forward(signo, _frame):
        if child[0]:
            os.kill(child[0], signo)
        else:
            early.append(signo)

    def stop(signo, _frame):  # Ctrl-Z: stop the run, then ourselves; `fg` continues both
        if child[0]:
            os.kill(child[0], signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, stop)  # here again after SIGCONT
        if child[0]:
            os.kill(child[0], signal.SIGCONT)

    for s in FORWARDED:
        signal.signal(s, forward)
    signal.signal(signal.SIGTSTP, stop)
    buf = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            print("ecs-kernel run --server: the server closed the connection before the run "
                  "ended", file=sys.stderr)
            return EXIT_LOST
        buf += chunk
        while b"\n" in buf:
            line, _, buf = buf.partition(b"\n")
            word, _, rest = line.partition(b" ")
            if word == b"pid":
                child[0] = int(rest)
                for s in early:
                    os.kill(child[0], s)
                early.clear()
            elif word == b"exit":
                return int(rest)
            elif word == b"error":
                print(f"ecs-kernel run --server: {os.fsdecode(rest)}", file=sys.stderr)
                return EXIT_USAGE


# -- the server ------------------------------------------------------------------------------------

def preload(first) -> None:
    """Import what ``ecs-kernel run`` of a program imports, before any fork (each child then
    finds it loaded, and the pages are shared copy-on-write). ``first``: the command line's own
    start-up (numpy with one BLAS thread, run's parser built once)."""
    import gc
    import importlib
    gc.disable()
    try:
        first()
        for name in WARM_MODULES:
            importlib.import_module(name)
        importlib.import_module("ecs_kernel.syscalls.table").table()  # built once, for all
        gc.collect()
        gc.freeze()
    finally:
        gc.enable()


# What a run imports, those a run imports when it first needs them included.
WARM_MODULES = (
    "ecs_kernel.cli_run", "ecs_kernel.cpu.task_run", "ecs_kernel.syscalls.strace",
    "ecs_kernel.syscalls.procfs", "ecs_kernel.kernel", "ecs_kernel.fs.stdio",
    "ecs_kernel.systems.task_list", "ecs_kernel.components.cpu_clocks",
    "ecs_kernel.components.io_wait", "ecs_kernel.components.nsproxy",
    "ecs_kernel.components.seccomp", "ecs_kernel.components.session",
    "ecs_kernel.components.thread_group", "ecs_kernel.components.uts",
    "unicorn.unicorn_py3.arch.intel", "termios", "locale",
)


def add_serve_parser(sub, main, first) -> None:
    """``serve``'s parser; ``main(argv)`` runs a command line (cli.main), ``first()`` is the
    command line's own start-up (:func:`preload`)."""
    p = sub.add_parser("serve", help="keep the kernel loaded for `run --server` (opt-in start-up "
                                     "server; runs until SIGTERM or Ctrl-C)")
    p.add_argument("--socket", metavar="PATH", default=None,
                   help="the UNIX socket to listen on (default: $ECS_KERNEL_SOCKET, else "
                        "$XDG_RUNTIME_DIR/ecs-kernel.sock, else /tmp/ecs-kernel-UID/serve.sock)")
    p.add_argument("--request-timeout", metavar="SECONDS", type=_seconds,
                   default=REQUEST_TIMEOUT_S,
                   help="how long a client that connected may take to send its request before "
                        "it is refused (others are served meanwhile; default: %(default)s)")
    p.set_defaults(fn=lambda args: _serve_cmd(args, main, first))


def _seconds(text: str) -> float:
    import argparse
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return v


def _serve_cmd(args, main, first) -> int:
    path = socket_path(args.socket)
    try:
        listener = _listen(path)
    except OSError as e:
        print(f"ecs-kernel serve: {path}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    preload(first)
    print(f"ecs-kernel serve: listening on {path} (pid {os.getpid()}); "
          f"`ecs-kernel run --server -- PROGRAM` runs there", file=sys.stderr, flush=True)
    try:
        return Server(listener, path, main, args.request_timeout).loop()
    finally:
        _unlink(path)


def _listen(path: str) -> socket.socket:
    d = os.path.dirname(path) or "."
    if not os.path.isdir(d):
        os.makedirs(d, mode=0o700, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        _unlink(path)  # a stale socket of a server that is gone
    else:
        probe.close()
        s.close()
        raise OSError(0, "a server already listens there")
    probe.close()
    old = os.umask(0o177)
    try:
        s.bind(path)
    finally:
        os.umask(old)
    s.listen(64)
    return s


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Server:
    """The accept loop: a child per request, its status to its client at its end."""

    def __init__(self, listener: socket.socket, path: str, main,
                 request_timeout: float = REQUEST_TIMEOUT_S):
        self.listener, self.path, self.main = listener, path, main
        self.request_timeout = request_timeout
        self.children: dict[int, socket.socket] = {}  # pid -> its client's connection
        # connections whose request has not come yet -> when they are refused; the loop serves
        # the others meanwhile
        self.waiting: dict[socket.socket, float] = {}
        self.package = package_dir()
        self.loaded = loaded_sources()
        self.stopping = False

    def loop(self) -> int:
        import selectors
        rd, wr = os.pipe()
        os.set_blocking(rd, False)
        os.set_blocking(wr, False)
        signal.set_wakeup_fd(wr)
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, lambda *_: None)  # the wake-up fd says which
        self.wake = (rd, wr)
        sel = selectors.DefaultSelector()
        self.sel = sel
        sel.register(self.listener, selectors.EVENT_READ, "accept")
        sel.register(rd, selectors.EVENT_READ, "signal")
        while not (self.stopping and not self.children):
            timeout = None
            if self.waiting:
                timeout = max(0.0, min(self.waiting.values()) - time.monotonic())
            for key, _ in sel.select(timeout):
                if key.data == "accept":
                    self._accept()
                elif key.data == "signal":
                    self._signals(os.read(rd, 512))
                elif key.data == "request":
                    self._request(key.fileobj)
                else:  # a client's end: it closed (or sent something it should not)
                    self._client_gone(key.data, key.fileobj)
            now = time.monotonic()
            for conn in [c for c, due in self.waiting.items() if due <= now]:
                self._unwait(conn)
                _refuse(conn, [], b"no request came within %g s of connecting"
                        % self.request_timeout)
        return 0

    def _unwait(self, conn) -> None:
        del self.waiting[conn]
        self.sel.unregister(conn)

    def _signals(self, got: bytes) -> None:
        if any(b in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) for b in got) and not self.stopping:
            self.stopping = True  # no new runs; those running finish and get their status
            self.sel.unregister(self.listener)
            self.listener.close()
            _unlink(self.path)
            for conn in list(self.waiting):
                self._unwait(conn)
                _refuse(conn, [], b"the server is stopping")
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            try:
                self.sel.unregister(conn)
            except KeyError:  # its client went first (_client_gone)
                pass
            try:
                conn.sendall(b"exit %d\n" % (128 - code if code < 0 else code))
            except OSError:
                pass
            conn.close()

    def _client_gone(self, pid: int, conn) -> None:
        try:
            data = conn.recv(1)
        except OSError:
            data = b""
        if not data and pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)  # its client is gone: so is the run
            except ProcessLookupError:
                pass
            self.sel.unregister(conn)

    def _accept(self) -> None:
        import selectors
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        try:
            uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                      struct.calcsize("3i")))[1]
            if uid != os.getuid():
                raise ValueError("only the server's user may use it")
        except (ValueError, OSError, struct.error) as e:
            _refuse(conn, [], os.fsencode(str(e)))
            return
        # Its request is read when it comes (_request): a client that connects and says nothing
        # holds up no one, and is refused after request_timeout.
        self.waiting[conn] = time.monotonic() + self.request_timeout
        self.sel.register(conn, selectors.EVENT_READ, "request")

    def _request(self, conn) -> None:
        """A waiting connection is readable: its request (the rest of it within the time left),
        then a child runs it."""
        import selectors
        left = self.waiting[conn] - time.monotonic()
        self._unwait(conn)
        fds: list[int] = []
        try:
            conn.settimeout(max(left, 0.001))  # a request that starts and stalls
            req = self._receive(conn, fds)
            conn.settimeout(None)
            if req.stamp != self.package:
                raise ValueError(f"the server runs another checkout's ecs-kernel "
                                 f"({os.fsdecode(self.package)}): start this one's")
            changed = changed_sources(self.loaded)
            if changed:
                raise ValueError(f"{os.path.basename(changed[0])} and {len(changed) - 1} more "
                                 f"source files changed since the server loaded them: restart "
                                 f"`ecs-kernel serve`" if len(changed) > 1 else
                                 f"{changed[0]} changed since the server loaded it: restart "
                                 f"`ecs-kernel serve`")
        except (ValueError, OSError, struct.error) as e:
            _refuse(conn, fds, os.fsencode(str(e)))
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as e:  # EAGAIN, ENOMEM: this run fails, the server goes on
            _refuse(conn, fds, b"cannot fork a run: " + os.fsencode(e.strerror or str(e)))
            return
        if pid == 0:
            try:
                code = self._child(req, fds, conn)
            except SystemExit as e:  # argparse's usage errors, --help: as a plain run exits
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException as e:  # noqa: BLE001 (the child never returns into the loop)
                try:
                    print(f"ecs-kernel: internal error in the server's child: "
                          f"{type(e).__name__}: {e}", file=sys.stderr)
                except Exception:  # noqa: BLE001
                    pass
                code = 70
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        try:
            conn.sendall(b"pid %d\n" % pid)
        except OSError:
            pass
        self.sel.register(conn, selectors.EVENT_READ, pid)

    @staticmethod
    def _receive(conn, fds: list[int]) -> Request:
        fd_size = array.array("i").itemsize
        data, anc, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(len(STDIO) * fd_size))
        for level, kind, blob in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(blob[:len(blob) - len(blob) % fd_size])
                fds.extend(a)
        if len(data) < _LEN.size:
            raise ValueError("short request")
        (n,) = _LEN.unpack_from(data, 0)
        if n > _MAX_REQUEST:
            raise ValueError("request too large")
        while len(data) < _LEN.size + n:
            more = conn.recv(min(1 << 20, _LEN.size + n - len(data)))
            if not more:
                raise ValueError("truncated request")
            data += more
        req = Request.decode(data[_LEN.size:])
        if len(req.present) != len(fds) or not set(req.present) <= set(STDIO):
            raise ValueError("the stdio fds did not come with the request")
        return req

    def _child(self, req: Request, fds: list[int], conn) -> int:
        """In the forked child: become the client's run, then run it."""
        import random
        import resource
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, as at start-up
        os.close(self.wake[0])
        os.close(self.wake[1])
        self.listener.close()
        conn.close()
        for c in self.children.values():
            c.close()
        self.sel.close()
        os.setsid()  # out of the server's session: no terminal's job control reaches us
        given = dict(zip(req.present, fds))
        for fd in STDIO:
            if fd in given:
                if given[fd] != fd:
                    os.dup2(given[fd], fd)
            else:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for fd in set(fds) - set(STDIO):
            os.close(fd)
        try:
            os.chdir(req.cwd if req.cwd is not None else "/")
        except OSError:
            os.chdir("/")
        os.umask(req.umask)
        os.environ.clear()
        for kv in req.env:
            k, _, v = kv.partition(b"=")
            if k:
                os.environb[k] = v
        for res, soft, hard in req.rlimits:
            try:
                resource.setrlimit(res, (soft, hard))
            except (ValueError, OSError):
                pass
        random.seed()  # not the server's sequence, nor a sibling's
        sys.argv = ["ecs-kernel", "run", *req.args]
        return self.main(["run", *req.args])


__all__ = ["add_serve_parser", "run_client", "server_option_at", "socket_path", "Request"]
