"""Network namespaces: the names sockets are bound to (gVisor: the Kernel's
AbstractSocketNamespace and the netstack's port manager; Linux: struct net, net/unix/af_unix.c's
table, net/ipv4/inet_hashtables.c). A task's ``netns`` column numbers its namespace in the
:class:`NetRegistry`; a socket belongs to the namespace it was made in (sock_net), whatever its
user does later. Each namespace is one :class:`NetStack` with its own lo:

- ``abstract``: the UNIX abstract namespace (a name starting with NUL), by the name's hex; a
  closed socket's name is free again (an entry whose socket is released counts as absent);
- ``inet``: every bound TCP and UDP socket (few: a list scanned by port);
- ``next_port``: the next ephemeral port to try (Linux picks them at random; here in order, so a
  run is deterministic); ``next_autobind``: the next autobind name (``\\0`` + five hex digits).

UNIX path names live in the file tree (fs/inodes.SocketNode), not here.
"""
from __future__ import annotations

from ecs_kernel import abi
from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.errors import E, KernelError


@state_class
class NetStack:
    __state__ = {"abstract": "dict[str,@Socket]", "inet": "list[@Socket]", "next_port": "int",
                 "next_autobind": "int", "userns": "~int", "lo_up": "~bool"}
    userns = 0  # the user namespace that owns it (its creator's)
    lo_up = True  # lo is up (a new namespace's starts down: SIOCSIFFLAGS brings it up)

    def __init__(self, userns: int = 0):
        self.abstract: dict = {}
        self.inet: list = []
        self.next_port = abi.IP_PORT_RANGE[0]
        self.next_autobind = 0
        self.userns = userns

    # -- the abstract namespace ------------------------------------------------------------------
    def abstract_lookup(self, name: bytes):
        sock = self.abstract.get(name.hex())
        if sock is not None and sock.released:
            del self.abstract[name.hex()]
            return None
        return sock

    def abstract_bind(self, name: bytes, sock) -> None:
        if self.abstract_lookup(name) is not None:
            raise KernelError(E.EADDRINUSE)
        self.abstract[name.hex()] = sock

    def autobind_name(self) -> bytes:
        """unix_autobind: a free abstract name of five hex digits (ENOSPC when all are taken)."""
        for _ in range(1 << 20):
            name = b"\0" + b"%05x" % (self.next_autobind & 0xFFFFF)
            self.next_autobind = (self.next_autobind + 1) & 0xFFFFF
            if self.abstract_lookup(name) is None:
                return name
        raise KernelError(E.ENOSPC)

    # -- inet ports --------------------------------------------------------------------------------
    def bound(self, protocol: int, port: int | None = None) -> list:
        """The open sockets of ``protocol`` bound (to ``port``, if given)."""
        self.inet = [s for s in self.inet if not s.released]
        return [s for s in self.inet if s.protocol == protocol and (port is None or s.lport == port)]

    def ephemeral_port(self, protocol: int, usable) -> int:
        """The next port of the local range that ``usable(port)`` accepts (EADDRNOTAVAIL when none
        is: inet_hash_connect / inet_csk_find_open_port)."""
        lo, hi = abi.IP_PORT_RANGE
        n = hi - lo + 1
        for _ in range(n):
            port = self.next_port
            self.next_port = lo + (port - lo + 1) % n
            if usable(port):
                return port
        raise KernelError(E.EADDRNOTAVAIL)


@state_class
class NetRegistry:
    """Every network namespace by number (0: the first, the init task's), and the next number.
    A namespace stays while the registry does (Linux frees one with its last task and socket)."""

    __state__ = {"stacks": "dict[int,@NetStack]", "next_ns": "int"}

    def __init__(self):
        self.stacks: dict[int, NetStack] = {0: NetStack()}
        self.next_ns = 1

    def new(self, userns: int) -> int:
        """copy_net_ns: a fresh namespace (its own lo, ports and abstract names)."""
        n = self.next_ns
        self.next_ns += 1
        self.stacks[n] = net = NetStack(userns)
        net.lo_up = False  # as Linux makes a namespace's loopback: down until brought up
        return n


def registry(world) -> NetRegistry:
    """The World's network namespaces (made on first use, checkpointed with the World)."""
    reg = world.index.net
    if reg is None:
        reg = world.index.net = NetRegistry()
    return reg


def stack_of(world, task: int) -> NetStack:
    """The network namespace task ``task`` is in."""
    return registry(world).stacks[int(world.tasks.netns[task])]


__all__ = ["NetStack", "NetRegistry", "registry", "stack_of"]
