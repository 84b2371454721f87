"""The package is layered one way: no import cycles, every stage imports only the stages
below it, and imports inside functions are kept for optional packages and say so.

The checker (tests/layering.py) reads the source with ast; the second half of this file
feeds it small packages written on the spot to show that it catches each kind of knot.
"""

from __future__ import annotations

import os
import textwrap

import pytest

from layering import check_lazy_imports, check_order, find_cycles, scan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Bottom to top. A tuple is one level: its stages do not import each other.
ORDER = [
    ("errors", "version", "torchvision_compat"),
    "graph",  # ONNX capture, channel rules, groups; no torch
    ("onnx_io", "plan", "input_shapes", "samples", "cost_model"),
    "runtime",
    ("twin", "fidelity"),
    "saliency",
    "passes",
    "equivalence",
    "latency",
    "solver",
    "torch",
    "distill",
    "pruning",
    "halp_graph",  # halp_graph/__init__.py: the one-call API
    "commands",
    "cli",
    ("__main__", "testing"),  # nothing in the library imports the test helpers
]

# Packages a module may import inside a function (with a `# lazy:` reason), because an
# install may lack them; everything else is imported at module level.
OPTIONAL = {"torch", "torchvision", "tensorrt", "onnxscript", "matplotlib", "PIL",
            "onnx.inliner"}  # new in onnx 1.16; the dependency floor is 1.15


def stage(module: str) -> str:
    """halp_graph.latency.lut -> latency; halp_graph -> halp_graph."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


@pytest.fixture(scope="module")
def modules():
    return scan({"halp_graph": os.path.join(ROOT, "halp_graph"),
                 "halp_graph.passes": os.path.join(ROOT, "passes")})


def test_no_import_cycles(modules):
    assert find_cycles(modules) == []


def test_every_stage_imports_only_stages_below_it(modules):
    assert check_order(modules, ORDER, stage) == []


def test_imports_inside_functions_are_for_optional_packages_and_say_so(modules):
    assert check_lazy_imports(modules, OPTIONAL) == []


def test_the_library_does_not_import_the_model_zoo(modules):
    assert [f"{m.path}:{i.line}" for m in modules.values() for i in m.imports
            if i.target.startswith("halp_graph.models")] == []


# ------------------------------------------------------------------ the checker itself
def write_package(root, files: dict[str, str]) -> str:
    for name, source in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return str(root / "pkg")


TOY_ORDER = ["low", "mid", "high"]
CLEAN = {
    "__init__.py": "from .high import run\n",
    "low/__init__.py": "VALUE = 1\n",
    "low/util.py": "import numpy as np\n\nfrom . import VALUE\n",
    "mid/__init__.py": "from ..low.util import np\nfrom .work import work\n",
    "mid/work.py": """\
        from ..low import VALUE


        def work():
            import torch  # lazy: torch is optional
            return VALUE
        """,
    "high/__init__.py": """\
        from ..mid import work


        def run():
            # lazy: torch is optional, and so is what needs it
            from ..mid.gpu import on_gpu
            return on_gpu(work())
        """,
    "mid/gpu.py": "import torch\n\n\ndef on_gpu(x):\n    return x\n",
}


def toy_stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "api"


def check_all(path) -> list[str]:
    modules = scan({"pkg": path})
    return (find_cycles(modules) + check_order(modules, TOY_ORDER + ["api"], toy_stage)
            + check_lazy_imports(modules, {"torch"}))


def test_checker_passes_a_clean_package(tmp_path):
    assert check_all(write_package(tmp_path, CLEAN)) == []


def test_checker_finds_a_cycle(tmp_path):
    files = dict(CLEAN, **{"low/a.py": "from .b import B\nA = 1\n", "low/b.py": "from .a import A\nB = 2\n"})
    problems = check_all(write_package(tmp_path, files))
    assert problems == ["import cycle: pkg.low.a -> pkg.low.b -> pkg.low.a"]


@pytest.mark.parametrize("files,problem", [
    # a lazy import does not make a cycle, but it is unexplained
    ({"low/a.py": "from .b import B\nA = 1\n",
      "low/b.py": "def b():\n    from .a import A  # lazy: torch is optional\n    return A\n"},
     "pkg.low.a is not optional"),
    ({"low/up.py": "from ..high import run\n"}, "low imports pkg.high (high), up the order"),
    ({"low/up.py": "def f():\n    from ..mid.gpu import on_gpu  # lazy: torch is optional\n"},
     "low imports pkg.mid.gpu (mid), up the order"),  # hidden in a function
    ({"mid/work.py": "def work():\n    import torch\n    return 1\n"},
     "import of torch inside a function without a '# lazy: <reason>'"),
    ({"mid/work.py": "def work():\n    import json  # lazy: faster start\n    return 1\n"},
     "json is not optional; import it at module level"),
], ids=["lazy-import-no-cycle", "upward", "upward-in-function", "unexplained-lazy", "lazy-required"])
def test_checker_finds_one_problem(tmp_path, files, problem):
    problems = check_all(write_package(tmp_path, dict(CLEAN, **files)))
    assert len(problems) == 1 and problem in problems[0]


def test_checker_finds_an_undeclared_stage(tmp_path):
    files = dict(CLEAN, **{"side/__init__.py": "X = 1\n"})
    assert check_all(write_package(tmp_path, files)) == ["pkg.side: stage 'side' is not in the declared order"]


def test_type_checking_imports_are_not_edges(tmp_path):
    files = dict(CLEAN, **{"low/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                           "    from ..high import run\n"})
    assert check_all(write_package(tmp_path, files)) == []
