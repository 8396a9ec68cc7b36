"""Extended attributes of inodes (Linux: fs/xattr.c, mm/shmem.c's handlers, fs/xattr.c's
simple_xattr_* and security/commoncap.c's checks; gVisor: vfs/xattr, fsimpl/tmpfs xattrs).

The file tree's memory and overlay inodes keep their attributes as Linux's tmpfs keeps them: in
the inode (``Inode.xattrs``, a dict from name to value bytes that a checkpoint saves with the
inode), under the ``user.``, ``trusted.`` and ``security.`` namespaces. A host file seen through the
overlay shows none of the host's own attributes (the guest sees the overlay's, which start empty;
setting one copies the file's metadata up as any metadata change does). Other file systems
(/proc, /sys, pipes, anonymous inodes) have no attribute handlers: EOPNOTSUPP, and an empty
list; a socket has one, system.sockprotoname (its protocol's name), which cannot be set. ``system.`` names (POSIX ACLs) are not modelled: EOPNOTSUPP as for an unknown prefix.

Names are ``str`` decoded as latin-1 (one char per byte: a name is any bytes but NUL).
Order of checks, as Linux's: vfs_*xattr's xattr_permission, then the capability module
(cap_inode_setxattr, cap_inode_removexattr, cap_convert_nscap, cap_inode_getsecurity), then the
handler (an unknown prefix EOPNOTSUPP, a bare prefix EINVAL), then simple_xattr_set's
XATTR_CREATE/XATTR_REPLACE rules.
"""
from __future__ import annotations

import struct

from ecs_kernel import abi
from ecs_kernel.abi import (S_IFDIR, S_IFMT, S_IFREG, S_ISVTX, XATTR_CREATE, XATTR_NAME_CAPS,
                            XATTR_REPLACE, XATTR_SECURITY_PREFIX, XATTR_SYSTEM_PREFIX,
                            XATTR_TRUSTED_PREFIX, XATTR_USER_PREFIX)
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.inodes import (MAY_READ, MAY_WRITE, DataFile, DynamicSymlink, Inode, Creds,
                                  SyntheticDir, permitted)

# The file systems whose inodes carry attributes (tmpfs and the overlay's memory layer; devtmpfs
# is tmpfs too, and memfds live on the tmpfs superblock).
XATTR_FILESYSTEMS = frozenset({"overlay", "tmpfs", "devtmpfs"})
XATTR_NAME_SOCKPROTONAME = "system.sockprotoname"
_HANDLER_PREFIXES = (XATTR_USER_PREFIX, XATTR_TRUSTED_PREFIX, XATTR_SECURITY_PREFIX)


def supports(inode: Inode) -> bool:
    """Does ``inode``'s file system have attribute handlers (IOP_XATTR)?"""
    if isinstance(inode, (DataFile, DynamicSymlink, SyntheticDir)):
        return False
    return inode.sb.name in XATTR_FILESYSTEMS


def _stored(inode: Inode) -> dict[str, bytes]:
    return getattr(inode, "xattrs", None) or {}


def _owner_or_capable(inode: Inode, creds: Creds) -> bool:
    """inode_owner_or_capable."""
    return creds.uid == inode.owner()[1] or creds.capable(abi.CAP_FOWNER)


def _permission(inode: Inode, name: str, mask: int, creds: Creds) -> None:
    """xattr_permission: which namespaces the caller may read or write on this inode."""
    write = bool(mask & MAY_WRITE)
    if name.startswith(XATTR_SECURITY_PREFIX) or name.startswith(XATTR_SYSTEM_PREFIX):
        return  # left to the file system and the security module
    if name.startswith(XATTR_TRUSTED_PREFIX):
        if not creds.capable(abi.CAP_SYS_ADMIN):
            raise KernelError(E.EPERM if write else E.ENODATA, "trusted.* needs CAP_SYS_ADMIN")
        return
    mode = inode.owner()[0]
    if name.startswith(XATTR_USER_PREFIX):
        fmt = mode & S_IFMT
        if fmt not in (S_IFREG, S_IFDIR):
            raise KernelError(E.EPERM if write else E.ENODATA,
                              "user.* only on regular files and directories")
        if fmt == S_IFDIR and mode & S_ISVTX and write and not _owner_or_capable(inode, creds):
            raise KernelError(E.EPERM, "user.* on a sticky directory needs its owner")
    if not permitted(inode, creds, mask):
        raise KernelError(E.EACCES, "permission denied")


def _handler(inode: Inode, name: str) -> None:
    """xattr_resolve_name: EOPNOTSUPP for a file system without attributes or an unknown
    prefix, EINVAL for a bare prefix."""
    if not supports(inode):
        raise KernelError(E.EOPNOTSUPP, "no extended attributes on this file system")
    for prefix in _HANDLER_PREFIXES:
        if name.startswith(prefix):
            if name == prefix:
                raise KernelError(E.EINVAL, "an attribute name with only a prefix")
            return
    raise KernelError(E.EOPNOTSUPP, f"no handler for {name!r}")


def _get_raw(inode: Inode, name: str) -> bytes:
    """__vfs_getxattr: the stored value (ENODATA when absent)."""
    _handler(inode, name)
    value = _stored(inode).get(name)
    if value is None:
        raise KernelError(E.ENODATA, name)
    return value


def _is_v2(value: bytes) -> bool:
    return (len(value) == abi.XATTR_CAPS_SZ_2 and
            (struct.unpack_from("<I", value)[0] & abi.VFS_CAP_REVISION_MASK) == abi.VFS_CAP_REVISION_2)


def _is_v3(value: bytes) -> bool:
    return (len(value) == abi.XATTR_CAPS_SZ_3 and
            (struct.unpack_from("<I", value)[0] & abi.VFS_CAP_REVISION_MASK) == abi.VFS_CAP_REVISION_3)


def _caps_as_seen(value: bytes) -> bytes:
    """cap_inode_getsecurity: a stored file capability as the (initial namespace's) caller sees
    it: a v3 value whose root is uid 0, and every v2 one, read as v2; other roots stay v3."""
    if _is_v2(value):
        return value
    if not _is_v3(value):
        raise KernelError(E.EINVAL, "a malformed security.capability")
    magic, rootid = struct.unpack_from("<I", value)[0], struct.unpack_from("<I", value, 20)[0]
    if rootid != 0:
        return value
    return struct.pack("<I", abi.VFS_CAP_REVISION_2 | (magic & abi.VFS_CAP_FLAGS_EFFECTIVE)) + value[4:20]


def _caps_to_store(inode: Inode, value: bytes, creds: Creds) -> bytes:
    """cap_convert_nscap: a v2 or v3 header (EINVAL), CAP_SETFCAP (EPERM); a v2 value is kept as
    given, a v3 one normalised (its revision, the effective flag, the data, its root uid)."""
    if not (_is_v2(value) or _is_v3(value)):
        raise KernelError(E.EINVAL, "not a v2 or v3 file capability")
    if not creds.capable(abi.CAP_SETFCAP):
        raise KernelError(E.EPERM, "setting a file capability needs CAP_SETFCAP")
    if len(value) == abi.XATTR_CAPS_SZ_2:
        return value
    magic, rootid = struct.unpack_from("<I", value)[0], struct.unpack_from("<I", value, 20)[0]
    if rootid == 0xFFFF_FFFF:
        raise KernelError(E.EINVAL, "the root uid does not map")
    nsmagic = abi.VFS_CAP_REVISION_3 | (magic & abi.VFS_CAP_FLAGS_EFFECTIVE)
    return struct.pack("<I", nsmagic) + value[4:20] + struct.pack("<I", rootid)


def _sockfs(inode: Inode) -> bool:
    """A socket's inode: sockfs has one attribute, system.sockprotoname, read-only."""
    return inode.sb.name == "sockfs"


def get(inode: Inode, name: str, creds: Creds) -> bytes:
    """vfs_getxattr: the value of ``name``."""
    _permission(inode, name, MAY_READ, creds)
    if _sockfs(inode):
        if name != XATTR_NAME_SOCKPROTONAME:
            raise KernelError(E.EOPNOTSUPP, "sockets have only system.sockprotoname")
        return getattr(inode, "proto_name", "").encode() + b"\0"  # the dentry name, NUL included
    if name == XATTR_NAME_CAPS and supports(inode):  # xattr_getsecurity: commoncap's view
        return _caps_as_seen(_get_raw(inode, name))
    return _get_raw(inode, name)


def list_names(inode: Inode, creds: Creds) -> bytes:
    """vfs_listxattr (simple_xattr_list): every name, each NUL-terminated, in the order Linux
    6.18's tmpfs gives them (descending byte order, measured); trusted.* only for CAP_SYS_ADMIN."""
    if _sockfs(inode):
        return XATTR_NAME_SOCKPROTONAME.encode() + b"\0"  # sockfs_listxattr
    if not supports(inode):
        return b""
    trusted = creds.capable(abi.CAP_SYS_ADMIN)
    names = sorted((n.encode("latin-1") for n in _stored(inode)
                    if trusted or not n.startswith(XATTR_TRUSTED_PREFIX)), reverse=True)
    return b"".join(n + b"\0" for n in names)


def _security_check(name: str, creds: Creds) -> None:
    """cap_inode_setxattr / cap_inode_removexattr for security.* names but the capability."""
    if name.startswith(XATTR_SECURITY_PREFIX) and name != XATTR_NAME_CAPS:
        if not creds.capable(abi.CAP_SYS_ADMIN):
            raise KernelError(E.EPERM, "security.* needs CAP_SYS_ADMIN")


def set_value(inode: Inode, name: str, value: bytes, flags: int, creds: Creds) -> None:
    """vfs_setxattr: store ``value`` under ``name`` (flags already checked by the caller)."""
    if name == XATTR_NAME_CAPS:  # an empty value too: EINVAL
        value = _caps_to_store(inode, value, creds)
    _permission(inode, name, MAY_WRITE, creds)
    _security_check(name, creds)
    _handler(inode, name)
    _simple_set(inode, name, bytes(value), flags)


def remove(inode: Inode, name: str, creds: Creds) -> None:
    """vfs_removexattr."""
    _permission(inode, name, MAY_WRITE, creds)
    if name == XATTR_NAME_CAPS:
        if not creds.capable(abi.CAP_SETFCAP):
            raise KernelError(E.EPERM, "removing a file capability needs CAP_SETFCAP")
    else:
        _security_check(name, creds)
    _handler(inode, name)
    _simple_set(inode, name, None, XATTR_REPLACE)


def _simple_set(inode: Inode, name: str, value: bytes | None, flags: int) -> None:
    """simple_xattr_set: XATTR_CREATE fails on an existing name (EEXIST), XATTR_REPLACE on a
    missing one (ENODATA); ``value`` None removes. The change is the inode's: ctime moves."""
    have = name in _stored(inode)
    if have and flags & XATTR_CREATE:
        raise KernelError(E.EEXIST, name)
    if not have and flags & XATTR_REPLACE:
        raise KernelError(E.ENODATA, name)
    inode.copy_up_meta()
    if getattr(inode, "xattrs", None) is None:
        inode.xattrs = {}
    if value is None:
        del inode.xattrs[name]
    else:
        inode.xattrs[name] = value
    inode.touch(c=True)


__all__ = ["XATTR_FILESYSTEMS", "supports", "get", "list_names", "set_value", "remove"]
