"""Bare Unicorn 2.1.4 at CPL 3: what one engine reports for the same fault three runs in a row,
with and without UC_TLB_VIRTUAL (docs/measurements.md, "CPL 3 under UC_TLB_VIRTUAL").

    python -m bench.probe_cpl3 novtlb|vtlb div0|ud2|int3|hlt|cli|wild|rostore|kernel [count-iret]

count-iret: drop to CPL 3 as commit 1c8cfa6 did (iretq with count=1, which leaves Unicorn's
count hook installed) instead of platform.new_engine (iretq up to an until address)."""
import sys, ctypes, faulthandler
from unicorn import (UC_ARCH_X86, UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UC_HOOK_TLB_FILL, UC_MODE_64, UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, UC_TLB_VIRTUAL, Uc, UcError)
from unicorn import x86_const as X
import struct
from ecs_kernel.cpu import platform as P
from ecs_kernel.cpu.platform import new_engine, HOOK_TLB_FILL_CB
from unicorn.unicorn_py3.unicorn import uclib
faulthandler.dump_traceback_later(6, exit=True)
vtlb = sys.argv[1] == "vtlb"; case = sys.argv[2]
CODE = {
 "div0": "31c9 48f7f1 ebfe",       # xor ecx,ecx; div rcx
 "ud2": "0f0b", "int3": "cc", "hlt": "f4", "cli": "fa",
 "wild": "48b8efbeadde00000000 8b00",  # mov rax,0xdeadbeef; mov eax,[rax]
 "rostore": "48b80010000000000000 48c7c0 00104000 c60001",  # store to code page
 "kernel": "48b80000000000800fffff ffe0", # jmp to kernel half
}
code = bytes.fromhex(CODE[case].replace(" ", ""))
if case == "kernel":
    code = bytes.fromhex("48b8 00000000 0080ffff ffe0".replace(" ",""))  # mov rax,0xffff800000000000; jmp rax
if case == "rostore":
    code = bytes.fromhex("48c7c0 00104000 c60001".replace(" ",""))  # mov rax,0x401000; mov byte [rax],1
def count_iret_engine():
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(P._SCRATCH, 0x1000)
    uc.mem_write(P._SCRATCH, P._GDT)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, P._SCRATCH, len(P._GDT) - 1, 0))
    uc.mem_write(P._SCRATCH + 0x800, b"\x48\xcf")
    uc.mem_write(P._SCRATCH + 0xF00, struct.pack("<5Q", 0, P.USER_CS | 3, 0x202, 0, P.USER_DS | 3))
    uc.reg_write(X.UC_X86_REG_RSP, P._SCRATCH + 0xF00)
    uc.emu_start(P._SCRATCH + 0x800, 0, count=1)
    uc.mem_unmap(P._SCRATCH, 0x1000)
    return uc
uc = count_iret_engine() if "count-iret" in sys.argv else new_engine()
uc.mem_map(0x401000, 0x1000, UC_PROT_READ | UC_PROT_EXEC)
uc.mem_write(0x401000, code)
uc.mem_map(0x7000_0000, 0x2000, UC_PROT_READ | UC_PROT_WRITE)
uc.reg_write(X.UC_X86_REG_RSP, 0x7000_1800)
fills = []
if vtlb:
    uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
    def fill(uch, addr, access, entry, ud):
        fills.append((hex(addr), access))
        if addr == 0x401000: p = 5
        elif addr in (0x7000_0000, 0x7000_1000): p = 3
        else: return False
        entry[0].paddr = addr; entry[0].perms = p
        return True
    cb = HOOK_TLB_FILL_CB(fill)
    h = ctypes.c_size_t()
    assert uclib.uc_hook_add(uc._uch, ctypes.byref(h), UC_HOOK_TLB_FILL, cb, None, ctypes.c_uint64(1), ctypes.c_uint64(0)) == 0
else:
    uc.hook_add(UC_HOOK_MEM_INVALID, lambda *a: (fills.append(("inv", hex(a[2]), a[1])), False)[1])
intrs = []
def on_intr(uc_, intno, ud):
    intrs.append((intno, hex(uc_.reg_read(X.UC_X86_REG_RIP))))
    uc_.emu_stop()
uc.hook_add(UC_HOOK_INTR, on_intr)
def run(count=0):
    try:
        uc.emu_start(0x401000, 0, count=count); r = "ok"
    except UcError as e:
        r = "UcError(%s)" % e.errno
    print(f"{sys.argv[1]:6} {case:8} count={count}: {r} rip={uc.reg_read(X.UC_X86_REG_RIP):#x} intrs={intrs} fills={fills}", flush=True)
    intrs.clear(); fills.clear()
for i in range(3):
    run(1000 if "count" in sys.argv else 0)
