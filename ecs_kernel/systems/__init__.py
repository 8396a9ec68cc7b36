"""Kernel behaviours. Each module holds the kernel calls of one concern (named after gVisor's
``task_*.go`` files) and the per-tick systems that advance the rows those calls leave behind."""
