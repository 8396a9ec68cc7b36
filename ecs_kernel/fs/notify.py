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

from ..abi import (IN_ALL_EVENTS, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE, IN_DELETE_SELF, IN_IGNORED,
                   IN_ISDIR, IN_ONESHOT, O_ACCMODE, O_PATH, O_RDONLY, S_IFDIR, S_IFMT)


def _is_dir(inode) -> bool:
    return (inode.get_mode() & S_IFMT) == S_IFDIR


def watched(inode) -> bool:
    return inode is not None and bool(inode.__dict__.get("watches"))


# -- raising events --------------------------------------------------------------------------------

def _deliver(inode, mask: int, cookie: int, name: bytes) -> None:
    """The watches of ``inode`` that want ``mask`` get the event (with IN_ONESHOT's end)."""
    ws = inode.__dict__.get("watches")
    if not ws:
        return
    for inst, wd in list(ws):
        entry = inst.watches.get(wd)
        if entry is None:
            continue
        want = entry[1]
        ev = mask & IN_ALL_EVENTS
        if not ev & want and not mask & IN_IGNORED:
            continue
        inst.queue(wd, mask & (want | ~IN_ALL_EVENTS), cookie, name)
        if want & IN_ONESHOT:
            inst.rm_watch(wd)


def notify(inode, mask: int, *, parent=None, name: str = "", cookie: int = 0) -> None:
    """``mask`` happened to ``inode`` (the inode's own watches: no name) and, when ``parent``
    (the directory holding it under ``name``) is watched, to that directory's entry."""
    if parent is not None and parent.__dict__.get("watches"):
        _deliver(parent, mask, cookie, name.encode())
    if inode is not None and inode.__dict__.get("watches"):
        _deliver(inode, mask, cookie, b"")


def dir_event(d, mask: int, name: str, child=None, cookie: int = 0) -> None:
    """An entry of directory ``d`` was made, removed or moved (IN_CREATE, IN_DELETE,
    IN_MOVED_FROM/TO): ``d``'s watches get it with the entry's name."""
    if d.__dict__.get("watches"):
        if child is not None and _is_dir(child):
            mask |= IN_ISDIR
        _deliver(d, mask, cookie, name.encode())


def deleted(inode) -> None:
    """``inode`` lost its last name: IN_DELETE_SELF, then its watches end (IN_IGNORED)."""
    ws = inode.__dict__.get("watches")
    if not ws:
        return
    _deliver(inode, IN_DELETE_SELF, 0, b"")
    for inst, wd in list(inode.__dict__.get("watches") or ()):
        if wd in inst.watches:
            inst.rm_watch(wd)


def file_event(desc, mask: int) -> None:
    """A file operation on ``desc`` (IN_ACCESS, IN_MODIFY, IN_OPEN, IN_CLOSE_*, IN_ATTRIB)."""
    inode = desc.inode
    if inode is None:
        return
    dentry = desc.__dict__.get("dentry")
    parent = name = None
    if dentry is not None:
        parent, name = dentry
        if not parent.__dict__.get("watches"):
            parent = None
        elif getattr(parent, "entries", {}).get(name) is not inode:
            parent = None  # renamed or removed since: that name is not this file any more
    if parent is None and not inode.__dict__.get("watches"):
        return
    if _is_dir(inode):
        mask |= IN_ISDIR
    notify(inode, mask, parent=parent, name=name or "")


def closed(desc) -> None:
    """The last reference to ``desc`` went away: IN_CLOSE_WRITE or IN_CLOSE_NOWRITE."""
    if desc.inode is None or desc.flags & O_PATH:
        return
    file_event(desc, IN_CLOSE_WRITE if desc.flags & O_ACCMODE != O_RDONLY else IN_CLOSE_NOWRITE)


__all__ = ["notify", "dir_event", "deleted", "file_event", "closed", "watched"]
