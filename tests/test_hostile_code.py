"""Hostile job code (issue 15, point 3): discovery never runs job code, and no input stops it.

Each module here would do harm if it were imported or if its values were computed: create a marker file,
loop for ever, allocate without end, recurse past any stack. Discovery reads it statically, and each test
checks that nothing happened (the marker is absent, the module is not in sys.modules), that the scan ended
within a time limit, that the problem is reported at its file and line, and that the well-behaved module
beside it is still discovered.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from common import time_limit

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.discovery.scan import MAX_IDENTICAL_CODE, MAX_MODULE_BYTES
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery

HEAD = "from nautobot.apps.jobs import Job, register_jobs\n"
FINE = HEAD + "class Fine(Job):\n    pass\n\n\nregister_jobs(Fine)\n"
SECONDS = 20  # generous: each scan here takes well under a second on an idle machine


def scan(root: Path, modules: Mapping[str, str | bytes], seconds: float = SECONDS) -> Discovery:
    """Write `modules` (name -> source) beside a well-behaved one and discover them all."""
    for name, source in modules.items():
        path = root / f"{name}.py"
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            path.write_text(source)
    (root / "fine.py").write_text(FINE)
    with time_limit(seconds):
        found = discover(jobs_root=root)
    assert "fine.Fine" in class_paths(found), found.problems
    for name in modules:
        assert name not in sys.modules  # never imported
    return found


def class_paths(found: Discovery) -> list[str]:
    return [job.class_path for job in found.jobs]


def problem(found: Discovery, root: Path, where: str, fragment: str) -> Diagnostic:
    """The one problem at `where` (file:line, or file:line:column), whose message holds `fragment`."""
    here = [p for p in found.problems if f"{p.location}:".startswith(f"{root}/{where}:")]
    assert len(here) == 1, [str(p) for p in found.problems]
    assert fragment in here[0].message, here[0].message
    return here[0]


# -- Code that acts when it runs ------------------------------------------------------------------------


def test_side_effects_at_import_never_happen(tmp_path: Path) -> None:
    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    acts = (
        f"import os, subprocess\nos.system('touch {marker}')\nsubprocess.run(['touch', '{marker}'])\n"
        f"open('{marker}', 'w').write('ran')\nexec(\"open('{marker}', 'w')\")\n__import__('os').mkdir('{marker}')\n"
    )
    source = (
        acts
        + HEAD
        + "class Acts(Job):\n"
        + f"    os.system('touch {marker}')\n"  # a class body runs at import too
        + "    class Meta:\n"
        + f"        description = os.popen('touch {marker}').read()\n"
        + "\n\nregister_jobs(Acts)\n"
    )
    found = scan(tmp_path, {"acts": source})
    assert not marker.exists()
    problem(found, tmp_path, "acts.py:11:23", "calls are never evaluated")  # Meta.description: a call
    assert "acts.Acts" not in class_paths(found)


def test_a_class_whose_values_need_no_code_is_discovered_beside_side_effects(tmp_path: Path) -> None:
    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    source = (
        f"import os\nos.system('touch {marker}')\n" + HEAD + "class Plain(Job):\n    pass\n\n\nregister_jobs(Plain)\n"
    )
    found = scan(tmp_path, {"plain": source})
    assert not marker.exists()
    assert class_paths(found) == ["fine.Fine", "plain.Plain"]  # Nautobot runs os.system, then registers
    assert not found.problems


@pytest.mark.parametrize("loop", ["while True:\n    pass\n", "while 1:\n    items.append(items)\n"])
def test_an_endless_loop_at_import_is_located_and_nothing_after_it_runs(tmp_path: Path, loop: str) -> None:
    source = (
        HEAD
        + "items = []\nclass Before(Job):\n    pass\n\n\nregister_jobs(Before)\n"
        + loop
        + "class After(Job):\n    pass\n\n\nregister_jobs(After)\n"
    )
    found = scan(tmp_path, {"loops": source})
    assert class_paths(found) == ["fine.Fine", "loops.Before"]
    problem(found, tmp_path, "loops.py:8:1", "stops here with an endless loop")


def test_a_loop_that_breaks_is_not_endless(tmp_path: Path) -> None:
    loop = "while True:\n    for _ in []:\n        break\n    break\n"
    source = HEAD + loop + "class After(Job):\n    pass\n\n\nregister_jobs(After)\n"
    found = scan(tmp_path, {"breaks": source})
    assert class_paths(found) == ["breaks.After", "fine.Fine"]
    assert not found.problems


def test_allocations_without_end_are_never_made(tmp_path: Path) -> None:
    source = (
        "blob = bytearray(10**12)\ntext = 'x' * 10**12\ntable = [0] * 10**10\n"  # never needed: never computed
        + HEAD
        + "class Greedy(Job):\n    class Meta:\n        description = 'x' * 10**12\n\n\nregister_jobs(Greedy)\n"
    )
    found = scan(tmp_path, {"greedy": source})
    problem(found, tmp_path, "greedy.py:7:29", "`10 ** 12` is not a literal expression")
    assert "greedy.Greedy" not in class_paths(found)


# -- Code that does not parse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "where", "fragment"),
    [
        (HEAD + "class Broken(Job)\n    pass\n", "broken.py:2:18", "cannot be parsed: expected ':'"),
        (HEAD + "x = 1\0\n", "broken.py:2", "cannot be parsed: source code string cannot contain null bytes"),
        (b"# -*- coding: utf-8 -*-\nx = '\xff'\n", "broken.py:2", "cannot be parsed"),
        (HEAD + "class Broken(Job):\n    return 1\n", "broken.py:3:5", "'return' outside function"),
    ],
)
def test_a_module_that_does_not_parse_is_located(
    tmp_path: Path, source: str | bytes, where: str, fragment: str
) -> None:
    found = scan(tmp_path, {"broken": source})
    problem(found, tmp_path, where, fragment)


# -- Inputs that stress a static scanner ------------------------------------------------------------------

DEEP = 100_000
DEEP_EXPRESSIONS = {
    "parentheses": "(" * DEEP + "1" + ")" * DEEP,
    "lists": "[" * DEEP + "]" * DEEP,
    "unary minus": "-" * DEEP + "1",
    "not": "not " * DEEP + "1",
    "additions": "+".join(["1"] * DEEP),
    "powers": "**".join(["2"] * DEEP),
    "attributes": "a" + ".b" * DEEP,
    "calls": "f" + "()" * DEEP,
    "subscripts": "a" + "[0]" * DEEP,
    "conditionals": "1 if a else " * DEEP + "1",
    "lambdas": "lambda: " * DEEP + "1",
    "2,000 additions (parsed, not compiled)": "+".join(["1"] * 2_000),
}


@pytest.mark.parametrize("expression", DEEP_EXPRESSIONS.values(), ids=DEEP_EXPRESSIONS.keys())
def test_an_expression_nested_too_deeply_for_python_is_located(tmp_path: Path, expression: str) -> None:
    # The parser fails with SyntaxError (too many nested parentheses), MemoryError (its stack) or
    # RecursionError (building the tree), or the compiler with RecursionError: each is the module's problem.
    source = HEAD + "class Deep(Job):\n    pass\n\n\nx = " + expression + "\nregister_jobs(Deep)\n"
    found = scan(tmp_path, {"deep": source})
    located = [p for p in found.problems if p.location.file == str(tmp_path / "deep.py")]
    assert len(located) == 1 and located[0].location.line == 6, [str(p) for p in found.problems]
    assert "deep.Deep" not in class_paths(found)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("+".join(["'a'"] * 900), "nested too deeply to follow"),  # Python compiles it: discovery stops following
        ("a0", "nested too deeply to follow"),  # a chain of 5,000 names, each the one before
    ],
)
def test_a_value_nested_deeper_than_discovery_follows_is_located(
    tmp_path: Path, expression: str, fragment: str
) -> None:
    chain = "a0 = 'x'\n" + "".join(f"a{i} = a{i - 1}\n" for i in range(1, 5_000)) if expression == "a0" else ""
    name = "a4999" if chain else expression
    source = HEAD + chain + f"class Deep(Job):\n    class Meta:\n        name = {name}\n\n\nregister_jobs(Deep)\n"
    found = scan(tmp_path, {"deep": source})
    assert "deep.Deep" not in class_paths(found)
    assert [p for p in found.problems if fragment in p.message and p.location.file == str(tmp_path / "deep.py")]


def test_a_register_jobs_argument_nested_too_deeply_is_located(tmp_path: Path) -> None:
    source = HEAD + "class Deep(Job):\n    pass\n\n\nregister_jobs(" + "-" * 900 + "Deep)\n"
    found = scan(tmp_path, {"deep": source})
    problem(found, tmp_path, "deep.py:6", "nested too deeply to follow")


def test_a_module_over_the_size_bound_is_not_read(tmp_path: Path) -> None:
    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    fifty_mb = (
        f"import os\nos.system('touch {marker}')\n" + HEAD + "class Big(Job):\n    pass\n\n\nregister_jobs(Big)\n"
    )
    fifty_mb += "# padding\n" * (50 * 1024 * 1024 // 10)
    found = scan(tmp_path, {"big": fifty_mb}, seconds=10)
    assert not marker.exists()
    size = (tmp_path / "big.py").stat().st_size
    problem(found, tmp_path, "big.py:1", f"is {size:,} bytes, more than the {MAX_MODULE_BYTES:,} discovery reads")
    assert "big.Big" not in class_paths(found)


def test_many_identical_definitions_are_not_compiled(tmp_path: Path) -> None:
    # CPython compiles N identical definitions in N² steps; past the bound, discovery only parses them.
    count = MAX_IDENTICAL_CODE + 1
    source = HEAD + "class Same(Job):\n    pass\n" * count + "\n\nregister_jobs(Same)\n"
    found = scan(tmp_path, {"same": source})
    warning = problem(found, tmp_path, "same.py:2:1", f"has {count:,} identical definitions like this one")
    assert warning.severity is Severity.WARNING
    assert "same.Same" in class_paths(found)  # the last class statement binds the name


@pytest.mark.slow
def test_100_000_classes_in_one_module(tmp_path: Path) -> None:
    count = 100_000
    classes = "".join(f"class Job{i}(Job):\n    pass\n" for i in range(count))
    source = HEAD + classes + "register_jobs(" + ", ".join(f"Job{i}" for i in range(count)) + ")\n"
    found = scan(tmp_path, {"many": source}, seconds=180)
    assert len(found.jobs) == count + 1 and not found.problems


@pytest.mark.slow
def test_100_000_identical_classes_in_one_module(tmp_path: Path) -> None:
    source = HEAD + "class Same(Job):\n    pass\n" * 100_000 + "register_jobs(Same)\n"
    found = scan(tmp_path, {"same": source}, seconds=120)
    problem(found, tmp_path, "same.py:2:1", "has 100,000 identical definitions like this one")


# -- Meta values whose size cannot be bounded -----------------------------------------------------------------


def doubling(step: str, start: str, times: int = 40) -> str:
    """`a0 = start; a1 = a0 <step> a0; ...`: each line doubles the value (or squares it)."""
    return f"a0 = {start}\n" + "".join(f"a{i} = a{i - 1} {step} a{i - 1}\n" for i in range(1, times + 1))


HUGE_VALUES = {
    "a string of 10**12 characters": ("", "description = 'x' * 10**12", "not a literal expression"),
    "2**10**10": ("", "time_limit = 2**10**10", "not a literal expression"),
    "a tuple repeated a billion times": (
        "",
        "task_queues = ('default',) * 1_000_000_000",
        "would hold more than 10,000 items or characters",
    ),
    "a list of lists, 10**8 items in all": (
        "",
        "task_queues = [[1] * 10_000] * 10_000",
        "would hold more than 10,000 items or characters",
    ),
    "a string doubled 40 times": (doubling("+", "'xx'"), "description = a40", "would hold more than 1,000,000"),
    "a list doubled 40 times": (doubling("+", "['q']"), "task_queues = a40", "would hold more than 1,000,000"),
    "a tuple nested 40 times": (
        "a0 = ('q',)\n" + "".join(f"a{i} = (a{i - 1}, a{i - 1})\n" for i in range(1, 41)),
        "task_queues = a40",
        "would hold more than 1,000,000",
    ),
    "an int squared 40 times": (doubling("*", "99"), "time_limit = a40", "a number too large to compute"),
    "2**40 steps if each name were evaluated each time it is used": (
        doubling("-", "1"),
        "time_limit = a40",
        "",  # a40 is 0: found at once, and a valid time limit
    ),
    "an int too large for a float": ("", "time_limit = " + "9" * 400, "too large for a float"),
    "an int past Python's 4,300-digit repr limit": (
        "big = " + "9" * 4_000 + "\n",
        "name = big * big",
        "a number too large to compute",
    ),
}


@pytest.mark.parametrize(("before", "meta", "fragment"), HUGE_VALUES.values(), ids=HUGE_VALUES.keys())
def test_a_meta_value_whose_size_cannot_be_bounded_is_refused(
    tmp_path: Path, before: str, meta: str, fragment: str
) -> None:
    source = HEAD + before + f"class Huge(Job):\n    class Meta:\n        {meta}\n\n\nregister_jobs(Huge)\n"
    found = scan(tmp_path, {"huge": source}, seconds=10)
    if not fragment:
        assert "huge.Huge" in class_paths(found) and not found.problems
        return
    assert "huge.Huge" not in class_paths(found)
    located = [p for p in found.problems if fragment in p.message]
    assert len(located) == 1, [str(p) for p in found.problems]
    assert located[0].location.file == str(tmp_path / "huge.py") and located[0].location.line > 1
    assert len(located[0].message) < 1_000  # the value is not shown whole


# -- Cycles and chains ----------------------------------------------------------------------------------------


def test_star_imports_in_a_cycle_are_located(tmp_path: Path) -> None:
    found = scan(
        tmp_path,
        {
            "left": "from right import *\n"
            + HEAD
            + "class J(Job):\n    class Meta:\n        name = x\n\n\nregister_jobs(J)\n",
            "right": "from left import *\n",
        },
    )
    assert "left.J" not in class_paths(found)
    where = {
        (str(p.location).removeprefix(f"{tmp_path}/"), "star imports form a cycle" in p.message) for p in found.problems
    }
    assert where == {("right.py:1:1", True)}, [str(p) for p in found.problems]


def test_imports_nested_400_modules_deep_are_located(tmp_path: Path) -> None:
    count = 400
    modules = {
        f"m{i:03}": (f"import m{i + 1:03}\n" if i + 1 < count else "")
        + HEAD
        + f"class J{i}(Job):\n    pass\n\n\nregister_jobs(J{i})\n"
        for i in range(count)
    }
    found = scan(tmp_path, modules, seconds=60)
    assert any("imports nest more than 100 modules deep" in p.message for p in found.problems)
    assert all(p.location.line == 1 for p in found.problems)  # each at an import statement
    assert "m399.J399" in class_paths(found)  # the end of the chain imports nothing


def test_an_inheritance_chain_3_000_classes_deep_is_located(tmp_path: Path) -> None:
    classes = "class A0(Job):\n    pass\n" + "".join(f"class A{i}(A{i - 1}):\n    pass\n" for i in range(1, 3_000))
    found = scan(tmp_path, {"chain": HEAD + classes + "register_jobs(A2999)\n"})
    assert any("inherit from one another more than 100 deep" in p.message for p in found.problems)


def test_a_class_with_thousands_of_bases_is_located(tmp_path: Path) -> None:
    bases = "".join(f"class B{i}:\n    pass\n" for i in range(2_000))
    source = (
        HEAD + bases + f"class Wide(Job, {', '.join(f'B{i}' for i in range(2_000))}):\n    pass\nregister_jobs(Wide)\n"
    )
    found = scan(tmp_path, {"wide": source})
    problem(found, tmp_path, f"wide.py:{2 + 2 * 2_000}:1", "more than 500 classes to follow")


def test_modules_importing_each_other_for_a_value_are_located(tmp_path: Path) -> None:
    found = scan(
        tmp_path,
        {
            "ping": "from pong import x\n"
            + HEAD
            + "class J(Job):\n    class Meta:\n        name = x\n\n\nregister_jobs(J)\n",
            "pong": "from ping import x\n",
        },
    )
    assert "ping.J" not in class_paths(found)  # Python's import fails the same way: a circular import
    failed = {str(p.location) for p in found.problems if "cannot import name 'x'" in p.message}
    assert failed == {f"{tmp_path}/ping.py:1:1", f"{tmp_path}/pong.py:1:1"}, [str(p) for p in found.problems]
