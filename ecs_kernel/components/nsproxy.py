"""A task's namespaces beyond PID and UTS (Linux's nsproxy and cred->user_ns; gVisor:
kernel/task.go's ipcns, mountNamespace, userns fields): numbers into the World's registries.

    ipcns           its IPC namespace (systems/ipc.IPCRegistry; 0: the root one)
    mntns           its mount namespace (systems/namespaces.NamespaceSet; 0: the first one)
    userns          its user namespace (systems/namespaces.NamespaceSet; 0: the initial one)
    netns           its network namespace (net/stack.NetRegistry; 0: the first one)
    pidns_children  the PID namespace its children are born in (unshare(CLONE_NEWPID)'s
                    pid_ns_for_children), as its pid_namespaces row's generation << 32 | row; -1: its own

Inherited by clone (components/task.py's INHERITED copies them), replaced by CLONE_NEW*,
unshare and setns (systems/namespaces.py).
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

NSProxy = Component("NSProxy", "tasks", {
    "ipcns": Column(np.int32, 0),
    "mntns": Column(np.int32, 0),
    "userns": Column(np.int32, 0),
    "netns": Column(np.int32, 0),
    "pidns_children": Column(np.int64, -1),  # a pid_namespaces gen << 32 | row, -1
}, doc="The task's IPC, mount, user and network namespaces and its children's PID "
    "namespace.")

COMPONENTS = [NSProxy]
