"""The host's stdin, stdout and stderr as the guest's fds 0-2 (``ecs-kernel run``), passed through.

Above fs/file.py (the descriptions) and fs/inodes.py (the inodes): a host fd is both an inode (its
stat is the host's fstat) and a description over it.
"""
from __future__ import annotations

import os
import time

from ecs_kernel import abi
from ecs_kernel.abi import O_RDWR
from ecs_kernel.checkpoint_objects import CheckpointError, state_class
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs import host_view
from ecs_kernel.fs.file import FileDescription
from ecs_kernel.fs.inodes import Inode, SuperBlock, host_error
from ecs_kernel.fs.stat import Stat


@state_class
class HostStdioInode(Inode):
    """Stands for a host fd handed to the guest as stdio; stat is the host's fstat."""

    # Only the fd number is saved: on restore it names a stdio slot of the saving run
    # (context "saved_stdio") and becomes the restoring run's host fd for that slot ("stdio").
    __state__ = {"host_fd": "int"}

    def __restored__(self, r) -> None:
        saved, now = r.context.get("saved_stdio", ()), r.context.get("stdio", ())
        if self.host_fd not in saved or saved.index(self.host_fd) >= len(now):
            r.fail(f"host fd {self.host_fd} is not one of the run's stdio fds")
        fd = now[saved.index(self.host_fd)]
        try:
            self.__init__(fd)
        except (OSError, TypeError):
            raise CheckpointError(f"the guest's stdio fd {fd} is not open here") from None

    def __init__(self, host_fd: int):
        self.host_fd = host_fd
        self.lower = None
        self.copied_up = True
        st = host_view.current().fd_stat(host_fd)
        self.dev, self.ino = st.st_dev, st.st_ino
        self.ftype = st.st_mode & abi.S_IFMT
        self.sb = SuperBlock("host", st.st_dev, time.time_ns)

    def touch(self, *, a: bool = False, m: bool = False, c: bool = False) -> None:
        pass  # the host object's times are the host's

    def stat(self) -> Stat:
        try:
            st = host_view.current().fd_stat(self.host_fd)
        except OSError as e:
            raise host_error(e) from None
        return Stat(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_rdev,
                    st.st_size, st.st_blksize, st.st_blocks, st.st_atime_ns, st.st_mtime_ns,
                    st.st_ctime_ns)

    def get_mode(self) -> int:
        return self.stat().st_mode

    def owner(self) -> tuple[int, int, int]:
        st = self.stat()
        return st.st_mode, st.st_uid, st.st_gid

    def copy_up_meta(self) -> None:
        pass

    @property
    def size(self) -> int:
        return self.stat().st_size

    def open_description(self, flags: int, path: str):
        """Reopening /proc/self/fd/N (or /dev/stdout) of host stdio: a new open of the same host
        object, as Linux's magic link gives (the host does the same magic for us). O_CREAT means
        nothing here; O_TRUNC truncates only what the user redirected stdout to."""
        keep = abi.O_ACCMODE | abi.O_APPEND | abi.O_TRUNC | abi.O_NONBLOCK
        try:
            fd = os.open(f"/proc/self/fd/{self.host_fd}", (flags & keep) | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as e:
            raise host_error(e) from None
        f = HostStdioFile(fd, flags & ~abi.O_CREAT, path)
        f.owns_host_fd = True
        return f

    def __repr__(self) -> str:
        return f"<HostStdioInode fd {self.host_fd}>"


@state_class
class HostStdioFile(FileDescription):
    """A guest fd over a host fd (the host's stdin/stdout/stderr), passed through.

    Reads and writes never block the Python thread: when the host fd is not ready (checked with a
    zero-timeout select) they raise EAGAIN, per the module's blocking convention. A host terminal
    is the guests' console (systems/tty.py: job control, the foreground group, the controlling
    terminal; the syscalls ask :attr:`is_terminal`). Terminal queries (TCGETS, TIOCGWINSZ) are
    answered from the host terminal and changes (TCSETS*, TIOCSWINSZ: a shell's raw mode) are made
    to it (:meth:`set_terminal`), as for a program run from a shell; ``ecs-kernel run`` puts the
    host's settings back when the run ends (cli_run.drive).
    The host fd is not closed on release: it is not ours.
    """

    _QUERIES = {abi.TCGETS: abi.TERMIOS_SIZE, abi.TIOCGWINSZ: 8}
    SETS = {abi.TCSETS: abi.TERMIOS_SIZE, abi.TCSETSW: abi.TERMIOS_SIZE,
            abi.TCSETSF: abi.TERMIOS_SIZE, abi.TIOCSWINSZ: 8}  # request -> bytes it takes

    __state__ = {"host_fd": "int", "owns_host_fd": "bool", "seekable": "bool"}

    def __checkpoint_check__(self) -> None:
        if self.owns_host_fd:  # a reopened /proc/self/fd/N: a host fd of this process only
            raise TypeError("a reopened host stdio fd cannot be checkpointed")

    def __restored__(self, r) -> None:
        self.host_fd = self.inode.host_fd
        self.seekable = self.inode.ftype in (abi.S_IFREG, abi.S_IFBLK)

    def __init__(self, host_fd: int, flags: int = O_RDWR, path: str = ""):
        super().__init__(HostStdioInode(host_fd), flags, path or f"host fd {host_fd}")
        self.host_fd = host_fd
        self.owns_host_fd = False  # a reopened /proc/self/fd/N: ours to close
        mode = self.inode.ftype
        self.seekable = mode in (abi.S_IFREG, abi.S_IFBLK)

    def release(self) -> None:
        super().release()
        if self.owns_host_fd:
            self.owns_host_fd = False
            try:
                os.close(self.host_fd)
            except OSError:
                pass

    @property
    def is_terminal(self) -> bool:
        """Over a host terminal: the console (systems/tty.py)."""
        return host_view.current().fd_isatty(self.host_fd)

    def set_terminal(self, request: int, data: bytes) -> None:
        """TCSETS*/TIOCSWINSZ (one of :attr:`SETS`, with its bytes) on the host terminal."""
        try:
            host_view.current().fd_set_terminal(self.host_fd, request, data)
        except OSError as e:
            raise host_error(e) from None

    def tostop(self) -> bool:
        """The terminal's TOSTOP setting (background writes stop the job)."""
        try:
            termios = host_view.current().fd_ioctl(self.host_fd, abi.TCGETS,
                                                   bytes(abi.TERMIOS_SIZE))
        except OSError:
            return False
        return bool(int.from_bytes(termios[12:16], "little") & abi.TOSTOP)

    def poll(self) -> int:
        """The host's own answer (poll with a zero timeout)."""
        want = 0
        if self.can_read:
            want |= abi.POLLIN | abi.POLLRDNORM | abi.POLLPRI
        if self.can_write:
            want |= abi.POLLOUT | abi.POLLWRNORM
        return host_view.current().fd_poll(self.host_fd, want)

    def host_fds(self, events: int) -> tuple[list[int], list[int]]:
        return ([self.host_fd] if events & (abi.POLLIN | abi.POLLRDNORM | abi.POLLPRI) else [],
                [self.host_fd] if events & (abi.POLLOUT | abi.POLLWRNORM) else [])

    def readable(self) -> bool:
        # ready, or at end/error: the read itself then reports it
        return bool(self.poll() & (abi.POLLIN | abi.POLLHUP | abi.POLLERR | abi.POLLNVAL))

    def writable(self) -> bool:
        return bool(self.poll() & (abi.POLLOUT | abi.POLLERR | abi.POLLHUP | abi.POLLNVAL))

    def _read(self, n: int) -> bytes:
        if n == 0:
            return b""
        if not self.readable():
            raise KernelError(E.EAGAIN, "host fd not ready")
        try:
            return host_view.current().fd_read(self.host_fd, n)
        except BlockingIOError:
            raise KernelError(E.EAGAIN, "host fd not ready") from None
        except OSError as e:
            raise host_error(e) from None

    def _write(self, data: bytes) -> int:
        if not data:
            return 0
        if not self.writable():
            raise KernelError(E.EAGAIN, "host fd not ready")
        try:
            return os.write(self.host_fd, data)
        except BlockingIOError:
            raise KernelError(E.EAGAIN, "host fd not ready") from None
        except OSError as e:
            raise host_error(e) from None

    def _pread(self, n: int, offset: int) -> bytes:
        try:
            return host_view.current().fd_pread(self.host_fd, n, offset)
        except OSError as e:
            raise host_error(e) from None

    def _pwrite(self, data: bytes, offset: int) -> int:
        try:
            return os.pwrite(self.host_fd, data, offset)
        except OSError as e:
            raise host_error(e) from None

    def lseek(self, offset: int, whence: int) -> int:
        self._need_open()
        if not self.seekable:
            raise KernelError(E.ESPIPE, "not seekable")
        try:
            self.offset = os.lseek(self.host_fd, offset, whence)
        except OSError as e:
            raise host_error(e) from None
        return self.offset

    def ioctl(self, request: int, arg: bytes | int = 0) -> tuple[int, bytes | None]:
        self._need_open()
        is_tty = host_view.current().fd_isatty(self.host_fd)
        if request in self._QUERIES and is_tty:
            try:
                return 0, host_view.current().fd_ioctl(self.host_fd, request,
                                                       bytes(self._QUERIES[request]))
            except OSError as e:
                raise host_error(e) from None
        if request == abi.FIONREAD:
            try:
                out = host_view.current().fd_ioctl(self.host_fd, request, bytes(4))
            except OSError as e:
                raise host_error(e) from None
            return 0, out
        raise KernelError(E.ENOTTY, "inappropriate ioctl for device")
