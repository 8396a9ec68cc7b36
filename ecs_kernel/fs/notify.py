"""fsnotify: the events file operations raise for inotify watches (Linux:
include/linux/fsnotify.h, fs/notify/fsnotify.c).

This module sits below the descriptions (fs/file.py calls it when the last reference to a
description goes, and for reads and writes) and knows the inotify instances (fs/inotify.py) only
by what they do: ``watches`` (wd -> [inode, mask]), ``queue`` and ``rm_watch``. An inode's
watches are its ``watches`` attribute, a list of ``[instance, wd]``, absent on an inode nobody
watches (so a file operation on an unwatched file costs one dict look).

Events go to the watches of the inode the operation is about (no name) and, for an entry of a
watched directory, to the directory's watches with the entry's name (fsnotify_parent). File
operations reach the directory through the description's ``dentry`` (the directory and name it
was opened by, set at open: a later rename is followed only while the name still holds it).
"""
from __future__ import annotations

import weakref

from ..abi import (IN_ACCESS, IN_ALL_EVENTS, IN_ATTRIB, IN_EXCL_UNLINK, IN_MODIFY, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE, IN_DELETE_SELF, IN_IGNORED,
                   IN_ISDIR, IN_ONESHOT, O_ACCMODE, O_PATH, O_RDONLY, S_IFDIR, S_IFMT)


def _is_dir(inode) -> bool:
    return (inode.get_mode() & S_IFMT) == S_IFDIR


def watched(inode) -> bool:
    return inode is not None and bool(inode.__dict__.get("watches"))


# -- raising events --------------------------------------------------------------------------------

def _deliver(inode, mask: int, cookie: int, name: bytes, unlinked: bool = False) -> None:
    """The watches of ``inode`` that want ``mask`` get the event (with IN_ONESHOT's end);
    ``unlinked``: an event through an open file whose name was unlinked, which watches with
    IN_EXCL_UNLINK do not get (inotify_handle_inode_event: d_unlinked of the event's path)."""
    ws = inode.__dict__.get("watches")
    if not ws:
        return
    for inst, wd in list(ws):
        entry = inst.watches.get(wd)
        if entry is None:
            continue
        want = entry[1]
        if unlinked and want & IN_EXCL_UNLINK:
            continue
        ev = mask & IN_ALL_EVENTS
        if not ev & want and not mask & IN_IGNORED:
            continue
        inst.queue(wd, mask & (want | ~IN_ALL_EVENTS), cookie, name)
        if want & IN_ONESHOT:
            inst.rm_watch(wd)


def notify(inode, mask: int, *, parent=None, name: str = "", cookie: int = 0,
           unlinked: bool = False) -> None:
    """``mask`` happened to ``inode`` (the inode's own watches: no name) and, when ``parent``
    (the directory holding it under ``name``) is watched, to that directory's entry."""
    if parent is not None and parent.__dict__.get("watches"):
        _deliver(parent, mask, cookie, name.encode(), unlinked)
    if inode is not None and inode.__dict__.get("watches"):
        _deliver(inode, mask, cookie, b"", unlinked)


def dir_event(d, mask: int, name: str, child=None, cookie: int = 0) -> None:
    """An entry of directory ``d`` was made, removed or moved (IN_CREATE, IN_DELETE,
    IN_MOVED_FROM/TO): ``d``'s watches get it with the entry's name."""
    if d.__dict__.get("watches"):
        if child is not None and _is_dir(child):
            mask |= IN_ISDIR
        _deliver(d, mask, cookie, name.encode())


def times_event(atime: bool, mtime: bool) -> int:
    """The event of a utimensat setting the access and/or modification time (fsnotify_change:
    both is a utime call, IN_ATTRIB; the access time alone IN_ACCESS; the other IN_MODIFY)."""
    if atime and mtime:
        return IN_ATTRIB
    return IN_ACCESS if atime else IN_MODIFY if mtime else 0


# inode -> its descriptions, both weakly: derived state (a checkpoint or a pickle of the tree
# leaves it out; descriptions restored from a checkpoint are not in it)
_OPEN_FILES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def opened(desc) -> None:
    """A description of ``desc.inode`` was made: the inode's open files are known (weakly), so
    the end of its last name can wait for the last close."""
    try:
        files = _OPEN_FILES.get(desc.inode)
        if files is None:
            files = _OPEN_FILES[desc.inode] = weakref.WeakSet()
    except TypeError:  # an inode stand-in that cannot be weakly referenced
        return
    files.add(desc)


def _open_elsewhere(inode, but=None) -> bool:
    """Is a description of ``inode`` other than ``but`` still open (held by an fd or a message)?"""
    files = _OPEN_FILES.get(inode)
    return bool(files) and any(f is not but and not f.released and getattr(f, "_fd_refs", 0) > 0
                               for f in list(files))


def deleted(inode) -> None:
    """``inode`` lost its last name: IN_DELETE_SELF, then its watches end (IN_IGNORED) — when
    it is evicted, so after the last close of a file still open (Linux: d_delete only unhashes
    a dentry in use; fsnotify_inoderemove runs at its final dput)."""
    ws = inode.__dict__.get("watches")
    if not ws:
        return
    if _open_elsewhere(inode):
        inode.delete_self_pending = True
        return
    _deliver(inode, IN_DELETE_SELF, 0, b"")
    for inst, wd in list(inode.__dict__.get("watches") or ()):
        if wd in inst.watches:
            inst.rm_watch(wd)


def file_event(desc, mask: int, *, through_path: bool = True) -> None:
    """A file operation on ``desc`` (IN_ACCESS, IN_MODIFY, IN_OPEN, IN_CLOSE_*, IN_ATTRIB).
    ``through_path``: an operation on the open file (read, write, open, close), which watches
    with IN_EXCL_UNLINK stop seeing once the file's name is unlinked; False for a change of the
    inode made through the fd (ftruncate, fchmod, futimens: notify_change reports those)."""
    inode = desc.inode
    if inode is None:
        return
    dentry = desc.__dict__.get("dentry")
    parent = name = None
    unlinked = False
    if dentry is not None:
        parent, name = dentry
        if not parent.__dict__.get("watches") and not inode.__dict__.get("watches"):
            return
        if getattr(parent, "entries", {}).get(name) is not inode:
            # The name is gone. Unlinked, Linux's dentry keeps its parent and name (events go
            # on there); renamed, the dentry moved, which the description does not follow.
            unlinked = getattr(inode, "nlink", 1) == 0
            if not unlinked:
                parent = None
        if parent is not None and not parent.__dict__.get("watches"):
            parent = None
    if parent is None and not inode.__dict__.get("watches"):
        return
    if _is_dir(inode):
        mask |= IN_ISDIR
    notify(inode, mask, parent=parent, name=name or "", unlinked=unlinked and through_path)


def closed(desc) -> None:
    """The last reference to ``desc`` went away: IN_CLOSE_WRITE or IN_CLOSE_NOWRITE, then
    IN_DELETE_SELF if that was the last open file of an inode with no name left."""
    inode = desc.inode
    if inode is None:
        return
    if not desc.flags & O_PATH:
        file_event(desc, IN_CLOSE_WRITE if desc.flags & O_ACCMODE != O_RDONLY else IN_CLOSE_NOWRITE)
    if inode.__dict__.get("delete_self_pending") and not _open_elsewhere(inode, desc):
        inode.delete_self_pending = False
        deleted(inode)


__all__ = ["notify", "dir_event", "deleted", "file_event", "closed", "watched", "opened",
           "times_event"]
