"""syscalls"""
