"""The command-line options that choose a backend (cluster/backend.py), kept apart so that a
command's parser can offer them without loading the backends."""
from __future__ import annotations

NEED_RAY = 'Ray is not installed: pip install "ecs-kernel[ray]"'
ENV_CLUSTER = "ECS_KERNEL_CLUSTER"


def add_backend_args(p) -> None:
    """``--workers N`` and ``--cluster ADDR`` on an argparse parser."""
    g = p.add_argument_group("where the work runs (default: in this process)")
    g.add_argument("--workers", type=int, metavar="N",
                   help="run on N local worker processes")
    g.add_argument("--cluster", metavar="ADDR",
                   help="run on Ray: 'local' starts a private cluster on this machine; 'auto', "
                        f"HOST:PORT or ray://HOST:PORT joins one (default: ${ENV_CLUSTER})")
