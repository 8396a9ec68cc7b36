"""The TLB-fill hook's control block: one int64 slot per field (see ``tlbfill/__init__.py``).
Its own module so that the compiled hook (``kernel.py``) and the package share it without a cycle."""

TLB_T = 0  # address of the range table (int64 [NCOLS, capacity], C order)
TLB_CAP = 1  # its capacity (the stride between columns)
TLB_N = 2  # live rows
TLB_FAULT_ADDR = 3  # the refused access: its address,
TLB_FAULT_ACCESS = 4  # its UC_MEM_* type,
TLB_FAULT_CODE = 5  # and SEGV_MAPERR / SEGV_ACCERR (0: no fault since the run loop cleared it),
# or TLB_FAULT_SIGBUS | BUS_ADRERR for a page past the end of a mapped file
TLB_FAULT_SIGBUS = 0x100
TLB_FILLS = 6  # fills answered (a counter for benchmarks and tiering)
TLB_MISS_HOOK = 7  # address of the miss handler, int64 (*)(uint64 addr, int64 access): 1 = retry
TLB_MISSES = 8  # refused fills (faults and stack growth)
TLB_BYPASS = 9  # 1: grant every access (identity, all permissions), then flush the TLB. While the
#                 kernel calls the engine (mem_unmap and ctl_remove_cache look up the code TLB of
#                 the range themselves, and a refusal would abort the guest's run), and while
#                 one faulting instruction runs again so that Unicorn's own checks name the
#                 exact byte (the hook only sees the page): cpu/platform.py precise_fault_addr
TLB_SIZE = 16
