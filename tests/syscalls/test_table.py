"""The syscall table as data, and ``ecs-kernel syscalls``."""
import inspect
import json

from ecs_kernel.cli import main
from ecs_kernel.syscalls import table as tb


def test_every_linux_number_has_a_name():
    t = tb.table()
    assert len(t) == tb.MAX_NR
    names = {s.name for s in t}
    for n in ("read", "write", "openat", "mmap", "exit_group", "clone3", "rseq", "statx",
              "io_uring_setup", "futex_waitv", "mseal"):
        assert n in names
    assert tb.number_of("read") == 0 and tb.number_of("exit_group") == 231
    assert tb.number_of("openat") == 257 and tb.number_of("clone3") == 435
    assert tb.name_of(335) == "syscall_335" and tb.name_of(100000) == "syscall_100000"


def test_unimplemented_rows_have_no_handler_and_implemented_ones_have_one():
    for s in tb.table():
        assert (s.handler is None) == (s.support == tb.UNIMPLEMENTED), s


def test_handlers_say_what_they_implement():
    for s in tb.table():
        if s.handler is not None:
            doc = inspect.getdoc(s.handler) or ""
            assert doc.startswith("Implements "), s.name


def test_handler_arity_matches_declared_arguments():
    for s in tb.table():
        if s.handler is None:
            continue
        sig = inspect.signature(s.handler)
        params = [p for p in sig.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
        has_var = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
        assert len(params) - 1 == s.nargs or (has_var and len(params) - 1 <= s.nargs), s.name


def test_counts_add_up():
    c = tb.counts()
    assert sum(c.values()) == sum(1 for n in tb.NAMES if n)
    assert c[tb.FULL] > 100 and c[tb.UNIMPLEMENTED] > 0


def test_cli_formats(capsys):
    assert main(["syscalls"]) == 0
    text = capsys.readouterr().out
    assert "openat" in text and "full" in text
    assert main(["syscalls", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"read", "rseq"}
    assert main(["syscalls", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| nr | name | support | note |")
