"""A task's IPC namespace (ipc_namespaces(7)): the number of its systems/ipc.IPCNamespace in the
World's IPC registry (0: the root one). Inherited by clone, replaced by CLONE_NEWIPC, unshare and
setns.

Writers: clone (components/task.py's INHERITED copies it), systems/namespaces.py.
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

IPCNamespaceRef = Component("IPCNamespaceRef", "tasks", {
    "ipcns": Column(np.int32, 0),
}, doc="The task's IPC namespace number (systems/ipc.py).")

COMPONENTS = [IPCNamespaceRef]
