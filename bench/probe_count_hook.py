"""Bare Unicorn 2.1.4, UC_TLB_VIRTUAL: the count hook (emu_start count=) and translated code
(docs/measurements.md, "CPL 3 under UC_TLB_VIRTUAL").

    python -m bench.probe_count_hook [stale] [prime]

stale: a count=1000 run right after an unbounded run of the same loop (never returns: the
translated block has no count check; the probe is killed after 6 s). prime: drop the count hook
by an emu_start(rip, until=rip) with the fill hook granting everything, as Platform._set_counting
does, before the page the counted run executed is unmapped."""
import sys, threading, ctypes, faulthandler, struct
from unicorn import (UC_ARCH_X86, UC_CTL_IO_WRITE, UC_CTL_TB_FLUSH, UC_CTL_TLB_FLUSH, UC_HOOK_TLB_FILL, UC_MODE_64, UC_PROT_EXEC, UC_PROT_READ, UC_TLB_VIRTUAL, Uc, UcError)
from unicorn import x86_const as X
from ecs_kernel.cpu import platform as P
from unicorn.unicorn_py3.unicorn import uclib
faulthandler.dump_traceback_later(6, exit=True)
S = P._SCRATCH
def new_engine():
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(S, 0x1000)
    uc.mem_write(S, P._GDT)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, S, len(P._GDT) - 1, 0))
    iret_at, frame_at, land = S + 0x800, S + 0xF00, S + 0x900
    uc.mem_write(iret_at, b"\x48\xcf")
    uc.mem_write(frame_at, struct.pack("<5Q", land, P.USER_CS | 3, 0x202, 0, P.USER_DS | 3))
    uc.reg_write(X.UC_X86_REG_RSP, frame_at)
    uc.emu_start(iret_at, land)
    assert uc.reg_read(X.UC_X86_REG_RIP) == land, hex(uc.reg_read(X.UC_X86_REG_RIP))
    uc.mem_unmap(S, 0x1000)
    uc.reg_write(X.UC_X86_REG_RIP, 0)
    return uc
uc = new_engine()
print("cs", hex(uc.reg_read(X.UC_X86_REG_CS)))
# loop: inc rbx; jmp . -3  (counts iterations)
uc.mem_map(0x401000, 0x1000, UC_PROT_READ | UC_PROT_EXEC)
uc.mem_write(0x401000, bytes.fromhex("48ffc3 ebfb"))
fills = []
uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
allowed = {0x401000: 5}
bypass = [False]
def fill(uch, addr, access, entry, ud):
    fills.append((hex(addr), access, bypass[0]))
    p = 7 if bypass[0] else allowed.get(addr)
    if p is None: return False
    entry[0].paddr = addr; entry[0].perms = p
    return True
cb = P.HOOK_TLB_FILL_CB(fill)
h = ctypes.c_size_t()
assert uclib.uc_hook_add(uc._uch, ctypes.byref(h), UC_HOOK_TLB_FILL, cb, None, ctypes.c_uint64(1), ctypes.c_uint64(0)) == 0
def run(count=0, until=0, begin=None, stop_after=None):
    t = None
    if stop_after:
        t = threading.Timer(stop_after, lambda: uclib.uc_emu_stop(uc._uch)); t.start()
    b = uc.reg_read(X.UC_X86_REG_RIP) if begin is None else begin
    rbx = uc.reg_read(X.UC_X86_REG_RBX)
    try:
        uc.emu_start(b, until, count=count); r = "ok"
    except UcError as e:
        r = "UcError(%s)" % e.errno
    if t: t.join()
    print(f"count={count} until={until:#x}: {r} rip={uc.reg_read(X.UC_X86_REG_RIP):#x} rbx+={uc.reg_read(X.UC_X86_REG_RBX)-rbx} fills={fills}", flush=True)
    fills.clear()
run(count=0, begin=0x401000, stop_after=0.2)   # unbounded first: no spurious fills?
if 'stale' in sys.argv: run(count=1000)
uc.ctl(UC_CTL_TB_FLUSH, UC_CTL_IO_WRITE)
run(count=1000)                                # after a TB flush
allowed.pop(0x401000)                          # the code page goes away (munmap), then an unbounded run on other code
uc.mem_map(0x500000, 0x1000, UC_PROT_READ | UC_PROT_EXEC); uc.mem_write(0x500000, bytes.fromhex("48ffc3 ebfb")); allowed[0x500000] = 5
uc.reg_write(X.UC_X86_REG_RIP, 0x500000)
if "prime" in sys.argv:
    bypass[0] = True
    run(count=0, until=0x500000)               # drop the count hook: executes nothing?
    uc.ctl(UC_CTL_TB_FLUSH, UC_CTL_IO_WRITE)
    bypass[0] = False
    uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)
run(count=0, stop_after=0.2)
run(count=0, stop_after=0.2)
