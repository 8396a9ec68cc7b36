"""The host's side of the guest's root: every read of a host file, link or directory goes here.

The guest sees the host tree under ``--root`` read-only (fs/inodes.py): until an inode is copied up
into the overlay, its metadata, contents, link target and listing come from the host. They are the
only outside input of a deterministic run besides stdin, so this module is where a run's host input
is recorded (``ecs-kernel run --deterministic --record FILE``) and served back on another machine
(``ecs-kernel replay FILE``):

- :class:`HostView` asks the host itself (the default);
- :class:`Recorder` asks the host and keeps each answer: stat results, errnos, link targets,
  listings, and the pages of file contents that were read;
- :class:`Replayer` answers from a recording and never touches the host; a question the recorded
  run did not ask is a :class:`ReplayDiverged` error (the program or its input changed).

Which view answers is process-wide (:func:`using`), as the host itself is: one run at a time asks.
Each answer is an ``os.stat_result``-like :class:`HostStat`, bytes, or an ``OSError`` with the
host's errno, so callers treat every view alike.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import struct
from dataclasses import dataclass

import numpy as np

from .. import abi

PAGE = 4096  # recorded file contents are kept in whole pages of the host file


@dataclass(frozen=True)
class HostStat:
    """The fields of a host ``lstat`` the file system reads (an ``os.stat_result`` has them too)."""

    st_mode: int
    st_ino: int
    st_dev: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_size: int
    st_rdev: int
    st_blksize: int
    st_blocks: int
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int

    FIELDS = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size", "st_rdev",
              "st_blksize", "st_blocks", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")

    @classmethod
    def of(cls, st) -> HostStat:
        return cls(*(int(getattr(st, f)) for f in cls.FIELDS))

    def as_list(self) -> list[int]:
        return [getattr(self, f) for f in self.FIELDS]


# -- the host itself ------------------------------------------------------------------------------

_HOST_GETDENTS64 = {"x86_64": 217, "aarch64": 61}  # the host's syscall numbers
_DIRENT64 = struct.Struct("<QqHB")
_libc = ctypes.CDLL(None, use_errno=True)
_libc_syscall = _libc.syscall
_libc_syscall.restype = ctypes.c_long
_libc_syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
_RDONLY = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


def host_dirents(path: str) -> list[tuple[str, int, int]]:
    """(name, d_ino, d_type) of every entry of host directory ``path``, "." and ".." included,
    in the order the host's getdents64 returns them (``ls -f`` shows it). Where the raw call is
    not at hand (a host that is not x86-64 or arm64), scandir's order after "." and ".."."""
    nr = _HOST_GETDENTS64.get(os.uname().machine)
    if nr is None:
        st = os.stat(path)
        out = [(".", st.st_ino, abi.DT_DIR), ("..", os.stat(os.path.join(path, "..")).st_ino,
                                              abi.DT_DIR)]
        with os.scandir(path) as it:
            return out + [(e.name, e.inode(), abi.DT_UNKNOWN) for e in it]
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        buf = ctypes.create_string_buffer(1 << 16)
        out = []
        while True:
            n = _libc_syscall(nr, fd, buf, len(buf))
            if n < 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), path)
            if n == 0:
                return out
            raw = buf.raw[:n]
            off = 0
            while off < n:  # struct linux_dirent64: ino, off, reclen, type, name
                ino, _, reclen, dt = _DIRENT64.unpack_from(raw, off)
                name = raw[off + _DIRENT64.size:off + reclen].split(b"\0", 1)[0]
                out.append((os.fsdecode(name), ino, dt))
                off += reclen
    finally:
        os.close(fd)


class HostView:
    """The host answers. Each method raises ``OSError`` as the host call would."""

    def lstat(self, path: str) -> HostStat:
        return HostStat.of(os.lstat(path))

    def check_open(self, path: str, directory: bool = False) -> None:
        """Can the host user open ``path`` for reading (as a directory)? OSError if not."""
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC if directory else _RDONLY
        os.close(os.open(path, flags))

    def pread(self, path: str, n: int, offset: int) -> bytes:
        fd = os.open(path, _RDONLY)
        try:
            return os.pread(fd, n, offset)
        finally:
            os.close(fd)

    def read_all(self, path: str) -> bytes:
        fd = os.open(path, _RDONLY)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def dirents(self, path: str) -> list[tuple[str, int, int]]:
        return host_dirents(path)

    def names(self, path: str) -> list[str]:
        """The entries of a host directory, without "." and ".." (scandir)."""
        with os.scandir(path) as it:
            return [e.name for e in it]

    # The host fds a run hands the guest as stdio (fs/stdio.py). Only what the guest can learn
    # from them goes through here; writes go to the host as they are (output, not input).
    def bind_stdio(self, fds) -> None:
        """The host fds of stdio slots 0, 1, 2 (None: closed) for this run."""

    def fd_flags(self, fd: int) -> int:
        """The host fd's status flags (F_GETFL): its access mode and O_APPEND."""
        return fcntl.fcntl(fd, fcntl.F_GETFL)

    def fd_stat(self, fd: int) -> HostStat:
        return HostStat.of(os.fstat(fd))

    def fd_isatty(self, fd: int) -> bool:
        return os.isatty(fd)

    def fd_ioctl(self, fd: int, request: int, arg: bytes) -> bytes:
        return fcntl.ioctl(fd, request, arg)

    def fd_set_terminal(self, fd: int, request: int, arg: bytes) -> None:
        """A guest's change to the host terminal (TCSETS*, TIOCSWINSZ): done, not a question (a
        replay leaves the terminal it runs on alone)."""
        fcntl.ioctl(fd, request, arg)

    def fd_poll(self, fd: int, want: int) -> int:
        """The host's readiness of ``fd`` now (poll with a zero timeout)."""
        p = select.poll()
        p.register(fd, want)
        try:
            events = p.poll(0)
        except OSError:
            return abi.POLLERR
        return events[0][1] if events else 0

    def fd_read(self, fd: int, n: int) -> bytes:
        return os.read(fd, n)

    def wait_input(self, rfds, wfds, wake, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: no limit) for a host fd to be ready or a host
        signal's ``wake`` fd to be readable; True if one was (a deterministic run's idle)."""
        try:
            ready = select.select([*rfds, *wake], list(wfds), [], timeout)
        except (OSError, ValueError):
            return True
        return bool(ready[0] or ready[1])

    def fd_pread(self, fd: int, n: int, offset: int) -> bytes:
        return os.pread(fd, n, offset)


HOST = HostView()
_current: HostView = HOST


def current() -> HostView:
    """The view that answers now (the host, unless a run records or replays)."""
    return _current


@contextlib.contextmanager
def using(view: HostView | None):
    """Make ``view`` answer for the duration of a run (None: the host)."""
    global _current
    before, _current = _current, view or HOST
    try:
        yield _current
    finally:
        _current = before


# -- recording ------------------------------------------------------------------------------------

class _Kept(HostView):
    """What a recording and its replay share: stdio keyed by slot, whole reads made of preads
    (so that both keep and serve the same pages)."""

    slots: dict[int, int]  # host fd -> stdio slot

    def bind_stdio(self, fds) -> None:
        self.slots = {fd: i for i, fd in enumerate(fds) if fd is not None}

    def read_all(self, path):
        out, off = [], 0
        while chunk := self.pread(path, 1 << 20, off):
            out.append(chunk)
            off += len(chunk)
        return b"".join(out)


class Recorder(_Kept):
    """Asks the host and keeps every answer (:meth:`state` is what a replay file holds)."""

    def __init__(self):
        self.slots: dict[int, int] = {}  # host fd -> stdio slot
        self.fd_answers: dict[str, list] = {}  # "op:slot" -> its answers in order
        self.answers: dict[str, object] = {}  # "op\0path" -> an answer or ["errno", N]
        self.pages: dict[str, dict[int, bytes]] = {}  # path -> page number -> its bytes
        self.sizes: dict[str, int] = {}  # path -> the size a short page read showed

    def _ask(self, key: str, fn):
        try:
            v = fn()
        except OSError as e:
            self.answers[key] = ["errno", e.errno or abi.EIO]
            raise
        self.answers[key] = v
        return v

    def lstat(self, path):
        st = self._ask(f"lstat\0{path}", lambda: HostView.lstat(self, path).as_list())
        return HostStat(*st)

    def check_open(self, path, directory=False):
        self._ask(f"open{'dir' if directory else ''}\0{path}",
                  lambda: HostView.check_open(self, path, directory))

    def readlink(self, path):
        return self._ask(f"readlink\0{path}", lambda: HostView.readlink(self, path))

    def dirents(self, path):
        got = self._ask(f"dirents\0{path}", lambda: [list(e) for e in HostView.dirents(self, path)])
        return [tuple(e) for e in got]

    def names(self, path):
        return self._ask(f"names\0{path}", lambda: HostView.names(self, path))

    def pread(self, path, n, offset):
        if n <= 0:
            return b""
        first, last = offset // PAGE, (offset + n - 1) // PAGE
        key = f"read\0{path}"
        try:  # whole pages, so that any later read inside them is served on replay
            data = HostView.pread(self, path, (last - first + 1) * PAGE, first * PAGE)
        except OSError as e:
            self.answers.setdefault(key, ["errno", e.errno or abi.EIO])
            raise
        self.answers.setdefault(key, "pages")
        pages = self.pages.setdefault(path, {})
        for i in range(0, len(data), PAGE):
            pages[first + i // PAGE] = data[i:i + PAGE]
        if len(data) < (last - first + 1) * PAGE:
            self.sizes[path] = first * PAGE + len(data)
        return data[offset - first * PAGE:offset - first * PAGE + n]

    # stdio: every answer in order, per stdio slot (the replaying run's fds differ)
    def _fd_ask(self, op: str, fd: int, fn):
        key = f"{op}:{self.slots.get(fd, -1)}"
        try:
            v = fn()
        except OSError as e:
            self.fd_answers.setdefault(key, []).append(["errno", e.errno or abi.EIO])
            raise
        self.fd_answers.setdefault(key, []).append(v.hex() if isinstance(v, bytes) else v)
        return v

    def fd_flags(self, fd):
        return self._fd_ask("flags", fd, lambda: HostView.fd_flags(self, fd))

    def fd_stat(self, fd):
        return HostStat(*self._fd_ask("stat", fd, lambda: HostView.fd_stat(self, fd).as_list()))

    def fd_isatty(self, fd):
        return self._fd_ask("isatty", fd, lambda: HostView.fd_isatty(self, fd))

    def fd_ioctl(self, fd, request, arg):
        return self._fd_ask(f"ioctl{request:#x}", fd, lambda: HostView.fd_ioctl(self, fd, request, arg))

    def fd_poll(self, fd, want):
        return self._fd_ask(f"poll{want:#x}", fd, lambda: HostView.fd_poll(self, fd, want))

    def fd_read(self, fd, n):
        return self._fd_ask("read", fd, lambda: HostView.fd_read(self, fd, n))

    def wait_input(self, rfds, wfds, wake, timeout):
        ready = HostView.wait_input(self, rfds, wfds, wake, timeout)
        self.fd_answers.setdefault("wait:-1", []).append(ready)
        return ready

    def fd_pread(self, fd, n, offset):
        return self._fd_ask("pread", fd, lambda: HostView.fd_pread(self, fd, n, offset))

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The recording as a manifest part and arrays: every page of every file in one byte
        array, and (file, page number, offset, length) rows to find them."""
        files = sorted(self.pages)
        index, blob, at = [], [], 0
        for i, path in enumerate(files):
            for pno, data in sorted(self.pages[path].items()):
                index.append((i, pno, at, len(data)))
                blob.append(data)
                at += len(data)
        meta = {"answers": self.answers, "files": files, "stdio": self.fd_answers,
                "sizes": [[files.index(p), s] for p, s in sorted(self.sizes.items()) if p in self.pages]}
        arrays = {"host.pages": np.frombuffer(b"".join(blob), np.uint8).copy(),
                  "host.page_index": np.array(index, np.int64).reshape(-1, 4)}
        return meta, arrays


# -- replaying ------------------------------------------------------------------------------------

class ReplayDiverged(RuntimeError):
    """The replayed run asked the host something the recorded run did not."""


class Replayer(_Kept):
    """Answers from a recording (:meth:`Recorder.state`), checked when built."""

    def __init__(self, meta, arrays):
        bad = ReplayDiverged  # (raised as the file's error by the loader)
        answers, files, sizes = meta.get("answers"), meta.get("files"), meta.get("sizes")
        if not (isinstance(answers, dict) and isinstance(files, list)
                and all(isinstance(f, str) for f in files) and isinstance(sizes, list)):
            raise bad("the host recording is malformed")
        blob, index = arrays.get("host.pages"), arrays.get("host.page_index")
        if blob is None or index is None or blob.dtype != np.uint8 or index.dtype != np.int64 \
                or index.ndim != 2 or index.shape[1] != 4:
            raise bad("the host recording's pages are malformed")
        self.answers = answers
        self.pages: dict[str, dict[int, bytes]] = {}
        raw = blob.tobytes()
        for fi, pno, at, n in index.tolist():
            if not (0 <= fi < len(files) and pno >= 0 and 0 <= at and 0 < n <= PAGE
                    and at + n <= len(raw)):
                raise bad("a recorded page lies outside the recording")
            self.pages.setdefault(files[fi], {})[pno] = raw[at:at + n]
        stdio = meta.get("stdio")
        if not (isinstance(stdio, dict) and all(isinstance(v, list) for v in stdio.values())):
            raise bad("the recorded stdio answers are malformed")
        self.fd_answers = {k: list(v) for k, v in stdio.items()}
        self.slots: dict[int, int] = {}
        self.sizes = {}
        for item in sizes:
            if not (isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)
                    and 0 <= item[0] < len(files) and item[1] >= 0):
                raise bad("a recorded file size is malformed")
            self.sizes[files[item[0]]] = item[1]

    def _answer(self, op: str, path: str):
        key = f"{op}\0{path}"
        if key not in self.answers:
            raise ReplayDiverged(f"the replayed run asks the host for {op} of {path!r}, which "
                                 "the recorded run never did")
        v = self.answers[key]
        if isinstance(v, list) and len(v) == 2 and v[0] == "errno":
            raise OSError(int(v[1]), os.strerror(int(v[1])), path)
        return v

    def lstat(self, path):
        v = self._answer("lstat", path)
        if not (isinstance(v, list) and len(v) == len(HostStat.FIELDS)
                and all(type(x) is int for x in v)):
            raise ReplayDiverged(f"the recorded lstat of {path!r} is malformed")
        return HostStat(*v)

    def check_open(self, path, directory=False):
        self._answer(f"open{'dir' if directory else ''}", path)

    def readlink(self, path):
        v = self._answer("readlink", path)
        if not isinstance(v, str):
            raise ReplayDiverged(f"the recorded link {path!r} is malformed")
        return v

    def dirents(self, path):
        v = self._answer("dirents", path)
        if not (isinstance(v, list) and all(
                isinstance(e, list) and len(e) == 3 and isinstance(e[0], str)
                and type(e[1]) is int and type(e[2]) is int for e in v)):
            raise ReplayDiverged(f"the recorded listing of {path!r} is malformed")
        return [tuple(e) for e in v]

    def names(self, path):
        v = self._answer("names", path)
        if not (isinstance(v, list) and all(isinstance(e, str) for e in v)):
            raise ReplayDiverged(f"the recorded listing of {path!r} is malformed")
        return list(v)

    def pread(self, path, n, offset):
        self._answer("read", path)
        if n <= 0:
            return b""
        pages = self.pages.get(path, {})
        size = self.sizes.get(path)
        out = []
        pos, end = offset, offset + n
        if size is not None:
            end = min(end, size)
        while pos < end:
            page = pages.get(pos // PAGE)
            if page is None:
                if size is None:
                    raise ReplayDiverged(f"the replayed run reads {path!r} at {pos}, which the "
                                         "recorded run never read")
                break
            piece = page[pos % PAGE:pos % PAGE + (end - pos)]
            if not piece:
                break
            out.append(piece)
            pos += len(piece)
        return b"".join(out)

    # stdio: the recorded answers, in the order the recorded run got them
    def _fd_answer(self, op: str, fd: int, kind):
        key = f"{op}:{self.slots.get(fd, -1)}"
        queue = self.fd_answers.get(key)
        if not queue:
            raise ReplayDiverged(f"the replayed run asks stdio slot {self.slots.get(fd)} for "
                                 f"{op} more often than the recorded run did")
        v = queue.pop(0)
        if isinstance(v, list) and len(v) == 2 and v[0] == "errno" and type(v[1]) is int:
            raise OSError(v[1], os.strerror(v[1]))
        if kind is bytes:
            try:
                return bytes.fromhex(v)
            except (TypeError, ValueError):
                raise ReplayDiverged(f"a recorded stdio {op} is malformed") from None
        if type(v) is not kind and not (kind is list and isinstance(v, list)):
            raise ReplayDiverged(f"a recorded stdio {op} is malformed")
        return v

    def fd_flags(self, fd):
        return self._fd_answer("flags", fd, int)

    def fd_stat(self, fd):
        v = self._fd_answer("stat", fd, list)
        if len(v) != len(HostStat.FIELDS) or not all(type(x) is int for x in v):
            raise ReplayDiverged("a recorded stdio stat is malformed")
        return HostStat(*v)

    def fd_isatty(self, fd):
        return self._fd_answer("isatty", fd, bool)

    def fd_ioctl(self, fd, request, arg):
        return self._fd_answer(f"ioctl{request:#x}", fd, bytes)

    def fd_set_terminal(self, fd, request, arg):
        pass

    def fd_poll(self, fd, want):
        return self._fd_answer(f"poll{want:#x}", fd, int)

    def wait_input(self, rfds, wfds, wake, timeout):
        queue = self.fd_answers.get("wait:-1")
        if not queue:
            raise ReplayDiverged("the replayed run waits for input more often than the recorded "
                                 "run did")
        v = queue.pop(0)
        if type(v) is not bool:
            raise ReplayDiverged("a recorded wait for input is malformed")
        return v

    def fd_read(self, fd, n):
        data = self._fd_answer("read", fd, bytes)
        if len(data) > n:
            raise ReplayDiverged("a recorded stdio read is longer than the replayed run asks")
        return data

    def fd_pread(self, fd, n, offset):
        data = self._fd_answer("pread", fd, bytes)
        if len(data) > n:
            raise ReplayDiverged("a recorded stdio read is longer than the replayed run asks")
        return data


__all__ = ["HostStat", "HostView", "Recorder", "Replayer", "ReplayDiverged", "HOST", "current",
           "using", "host_dirents", "PAGE"]
