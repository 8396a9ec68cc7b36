"""Sockets: UNIX domain and loopback TCP/UDP, all inside the kernel (no host network)."""
