"""ecs-kernel: a data-oriented emulation of the core Linux kernel."""
__version__ = "0.1.0"
