"""Workload files: the shipped ones load; a bad file is rejected naming its line and field."""
import json

import pytest

from ecs_kernel.sim import spec
from ecs_kernel.sim.spec import SpecError, load, loads, workload_names

GOOD = """\
name = "w"
futex_words = 4

[[programs]]
name = "a"
steps = [
  { op = "compute", ticks = { uniform = [1, 3] } },
  { op = "kill", target = "random", sig = "SIGUSR1" },
  { op = "loop", to = 0, times = 3 },
]

[[programs]]
name = "b"
share = 0
steps = [
  { op = "exit", code = 2 },
]
"""


def bad(old: str, new: str, text: str = GOOD) -> str:
    assert old in text
    return text.replace(old, new)


def error(text: str, fname: str = "w.toml") -> str:
    with pytest.raises(SpecError) as e:
        loads(text, fname)
    return str(e.value)


def test_every_shipped_workload_loads():
    names = workload_names()
    assert set(names) >= {"signal-storm", "futex-contention", "fork-exit-churn", "timer-sleepers", "mixed"}
    for n in names:
        w = load(n)
        assert w.name == n and w.programs


def test_a_good_file_builds_steps_with_their_lines():
    w = loads(GOOD, "w.toml")
    a, b = w.programs
    assert [s.op for s in a.steps] == ["compute", "kill", "loop"]
    assert [s.line for s in a.steps] == [7, 8, 9]
    assert a.steps[0].arg("ticks") == spec.Dist(spec.D_UNIFORM, (1, 3))
    assert a.steps[1].arg("sig") == spec.Dist.const(10)
    assert b.share == 0 and b.line == 11  # its [[programs]] header


def test_unknown_op_names_line_and_field():
    msg = error(bad('op = "kill"', 'op = "kil"'))
    assert msg.startswith("w.toml:8: programs[0].steps[1].op: unknown op 'kil'")


def test_bad_distribution_names_line_and_field():
    assert error(bad("uniform = [1, 3]", "uniform = [3, 1]")).startswith(
        "w.toml:7: programs[0].steps[0].ticks.uniform: uniform low 3 > high 1")
    assert error(bad("uniform = [1, 3]", "gauss = 2")).startswith(
        "w.toml:7: programs[0].steps[0].ticks.gauss: unknown distribution 'gauss'")


def test_unknown_signal_and_target_and_argument():
    assert error(bad('"SIGUSR1"', '"SIGFOO"')).startswith("w.toml:8: programs[0].steps[1].sig: unknown signal")
    assert error(bad('"random"', '"anyone"')).startswith("w.toml:8: programs[0].steps[1].target: unknown value")
    assert error(bad('sig = "SIGUSR1"', 'sig = "SIGUSR1", colour = 3')).startswith(
        "w.toml:8: programs[0].steps[1].colour: kill takes no argument 'colour'")


def test_missing_and_out_of_range_values():
    assert "kill needs 'sig'" in error(bad(', sig = "SIGUSR1"', ""))
    assert error(bad("code = 2", "code = 300")).startswith("w.toml:16: programs[1].steps[0].code: 300 is outside")
    assert error(bad("futex_words = 4", "futex_words = 0")).startswith("w.toml:2: futex_words:")
    assert error(bad('op = "compute", ticks', 'op = "futex_wake", word = 9, ticks')).startswith(
        "w.toml:7: programs[0].steps[0]")


def test_loops_must_jump_back_and_counted_loops_must_not_nest():
    forward = bad('{ op = "kill", target = "random", sig = "SIGUSR1" }', '{ op = "loop", to = 2 }')
    assert error(forward).startswith("w.toml:8: programs[0].steps[1].to: a loop jumps back")
    nested = bad('  { op = "loop", to = 0, times = 3 },',
                 '  { op = "loop", to = 1, times = 2 },\n  { op = "loop", to = 0, times = 3 },')
    assert "counted loops may not nest" in error(nested)
    forever = bad('  { op = "loop", to = 0, times = 3 },',
                  '  { op = "loop", to = 1, times = 2 },\n  { op = "loop", to = 0, times = "forever" },')
    assert loads(forever, "w.toml").programs[0].steps[-1].arg("times") == spec.FOREVER


def test_clone_names_an_existing_program():
    msg = error(bad('op = "exit", code = 2', 'op = "clone", kind = "process", program = "c"'))
    assert msg.startswith("w.toml:16: programs[1].steps[0].program: no program named 'c'")


def test_settings_and_programs_are_checked():
    assert error(bad("futex_words = 4", "futex_wordz = 4")).startswith("w.toml:2: futex_wordz: unknown setting")
    assert "two programs named 'a'" in error(bad('name = "b"', 'name = "a"'))
    assert "no program has a share > 0" in error(bad('name = "a"\n', 'name = "a"\nshare = 0\n'))
    assert "SIGKILL and SIGSTOP cannot be caught" in error(bad(
        'op = "exit", code = 2', 'op = "sigaction", sig = "SIGKILL", action = "catch"'))


def test_syntax_errors_carry_a_line():
    assert error(bad("name = \"a\"", "name = = \"a\"")).startswith("w.toml:5: not valid TOML")
    assert error('{"programs": [\n  {"name": "a",, }]}', "w.json").startswith("w.json:2: not valid JSON")


def test_json_files_get_lines_too():
    text = json.dumps({"programs": [{"name": "a", "steps": [
        {"op": "compute", "ticks": 1}, {"op": "kill", "target": "x", "sig": 10}]}]}, indent=1)
    msg = error(text, "w.json")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if '"x"' in l)
    assert msg.startswith(f"w.json:{line}: programs[0].steps[1].target: unknown value 'x'")
    ok = json.dumps({"programs": [{"name": "a", "steps": [{"op": "compute", "ticks": {"exponential": 4}}]}]})
    assert loads(ok, "w.json").programs[0].steps[0].arg("ticks").kind == spec.D_EXPONENTIAL


def test_load_by_path_and_missing_names(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text(GOOD)
    assert load(p).name == "w"
    assert load(str(p)).programs[0].name == "a"
    with pytest.raises(SpecError, match="no such workload"):
        load("no-such-workload")
    with pytest.raises(SpecError, match="ends in .toml or .json"):
        load(tmp_path / "x.yaml")
    with pytest.raises(SpecError, match="No such file"):
        load(tmp_path / "gone.toml")
    p.write_text(bad('op = "kill"', 'op = "kil"'))
    with pytest.raises(SpecError, match=r"x\.toml:8: programs\[0\]\.steps\[1\]\.op"):
        load(p)


def test_workloads_are_frozen():
    w = load("signal-storm")
    with pytest.raises(Exception):
        w.name = "x"


EVERY_ARG = """\
name = "every-arg"
description = "one step of each op, every argument given"
futex_words = 8
threads_per_process = 2

[[programs]]
name = "a"
share = 2.5
steps = [
  { op = "sigaction", sig = "SIGUSR1", action = "catch", flags = 268435456 },
  { op = "sigprocmask", how = "setmask", sigs = ["SIGUSR2", 34] },
  { op = "compute", ticks = { exponential = 3.7 } },
  { op = "tgkill", target = "random", sig = { choice = ["SIGUSR1", "SIGRTMIN+2"] } },
  { op = "kill", target = "parent", sig = 10 },
  { op = "futex_wake", word = { per_task = [0, 7] }, count = { uniform = [1, 3] } },
  { op = "lock", word = 1 }, { op = "unlock", word = 1 }, { op = "futex_wait", word = 2 },
  { op = "nanosleep", ticks = { const = 4 } },
  { op = "setitimer", which = "virtual", value = 5, interval = 2 },
  { op = "clone", kind = "process", program = "b" },
  { op = "wait" },
  { op = "loop", to = 2, times = 3 },
  { op = "loop", to = 0 },
]

[[programs]]
name = "b"
share = 0
steps = [{ op = "exit_group", code = { choice = [0, 1, 255] } }]
"""


@pytest.mark.parametrize("text", [EVERY_ARG, *[load(n) for n in workload_names()]])
def test_to_data_is_what_parse_reads_back(text):
    w = loads(text, "every-arg.toml") if isinstance(text, str) else text
    data = json.loads(json.dumps(spec.to_data(w)))  # plain JSON, as a checkpoint keeps it
    back = spec.parse(data, w.source)
    assert back.name == w.name and back.description == w.description
    assert (back.futex_words, back.threads_per_process) == (w.futex_words, w.threads_per_process)
    assert [(p.name, p.share, [(s.op, s.args) for s in p.steps]) for p in back.programs] == \
        [(p.name, p.share, [(s.op, s.args) for s in p.steps]) for p in w.programs]
