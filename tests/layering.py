"""A small ast-based checker of how a package's modules import each other.

    modules = scan({"halp_graph": "halp_graph", "halp_graph.passes": "passes"})
    problems = (find_cycles(modules) + check_order(modules, ORDER, stage_of)
                + check_lazy_imports(modules, OPTIONAL))

It reads the source without importing anything. Every import names the module it binds
(`from pkg import name` binds pkg.name where that is a module, else pkg itself), not the
parent packages Python runs on the way, so an `__init__` that re-exports its submodules
is no knot by itself. Imports under `if TYPE_CHECKING:` are left out: they never run.

- `find_cycles`: cycles among the imports that run when a module is imported (those at
  module level, including inside try/if/class bodies).
- `check_order`: stages are declared bottom to top; an import from one stage into
  another must go to a lower one (imports inside functions count too: a lazy import
  upwards is still an upward dependency).
- `check_lazy_imports`: an import inside a function must say why with a `# lazy: ...`
  comment on its line or on the comment lines right above it, and only an optional
  package justifies one: the package itself, or a module of ours that imports one at
  module level (directly or through other modules of ours).
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

LAZY_REASON = re.compile(r"#\s*lazy:\s*\S")


@dataclass(frozen=True)
class Import:
    target: str  # the module it binds (ours), or the external module it names ("torch.fx")
    line: int
    internal: bool  # a module of the scanned packages
    lazy: bool  # inside a function body
    reason: bool  # carries a `# lazy: ...` comment


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: list[Import] = field(default_factory=list)


def scan(roots: dict[str, str | Path]) -> dict[str, Module]:
    """{dotted module name: Module} for every .py file under each root directory, the
    root being importable as the given dotted name (a root may live inside another, as
    `halp_graph.passes` maps to passes/)."""
    files: dict[str, tuple[Path, bool]] = {}
    for dotted, root in roots.items():
        root = Path(root)
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("").parts
            is_package = rel[-1] == "__init__"
            parts = rel[:-1] if is_package else rel
            files[".".join((dotted, *parts))] = (path, is_package)
    modules = {name: Module(name, path, pkg) for name, (path, pkg) in files.items()}
    for module in modules.values():
        module.imports = _imports(module, set(modules))
    return modules


def _imports(module: Module, known: set[str]) -> list[Import]:
    source = module.path.read_text()
    tree = ast.parse(source, str(module.path))
    lines = source.splitlines()
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    found: list[Import] = []

    def add(target: str, node: ast.stmt, lazy: bool) -> None:
        internal = target in known
        found.append(Import(target, node.lineno, internal, lazy, _has_reason(lines, node.lineno)))

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        base = base[:len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(_longest_known(alias.name, known), node, lazy)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in known else _longest_known(base, known), node, lazy)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, lazy)
        else:
            inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for child in ast.iter_child_nodes(node):
                visit(child, inner)

    visit(tree, False)
    return found


def _longest_known(name: str, known: set[str]) -> str:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return name


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _has_reason(lines: list[str], lineno: int) -> bool:
    if LAZY_REASON.search(lines[lineno - 1]):
        return True
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        if LAZY_REASON.search(lines[i]):
            return True
        i -= 1
    # an import in a run of imports shares the reason given above the first of them
    i = lineno - 2
    while i >= 0 and re.match(r"\s*(from|import)\s", lines[i]):
        if LAZY_REASON.search(lines[i]):
            return True
        i -= 1
    while i >= 0 and lines[i].strip().startswith("#"):
        if LAZY_REASON.search(lines[i]):
            return True
        i -= 1
    return False


# ------------------------------------------------------------------ checks
def find_cycles(modules: dict[str, Module]) -> list[str]:
    """One line per import cycle among module-level imports (strongly connected parts)."""
    edges = {name: sorted({i.target for i in m.imports if i.internal and not i.lazy and i.target != name})
             for name, m in modules.items()}
    problems = []
    for part in _strongly_connected(edges):
        if len(part) > 1:
            problems.append("import cycle: " + " -> ".join(_cycle_in(part, edges)))
    return problems


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            parts.append(sorted(part))

    try:
        for v in sorted(edges):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return parts


def _cycle_in(part: list[str], edges: dict[str, list[str]]) -> list[str]:
    """One concrete cycle through the first module of a strongly connected part."""
    members, start = set(part), part[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in edges[v]:
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return part


def check_order(modules: dict[str, Module], order: Sequence[str | tuple[str, ...]],
                stage_of: Callable[[str], str]) -> list[str]:
    """One line per import that does not go down the declared stages (bottom first; a
    tuple is one level of stages that may not import each other), and per module whose
    stage is not declared."""
    level = {}
    for i, item in enumerate(order):
        for stage in (item,) if isinstance(item, str) else item:
            level[stage] = i
    problems = []
    for name, module in sorted(modules.items()):
        here = stage_of(name)
        if here not in level:
            problems.append(f"{name}: stage {here!r} is not in the declared order")
            continue
        for imp in module.imports:
            if not imp.internal:
                continue
            there = stage_of(imp.target)
            if there == here or there not in level:
                continue
            if level[there] >= level[here]:
                way = "up" if level[there] > level[here] else "across"
                problems.append(f"{_where(module, imp)}: {here} imports {imp.target} ({there}), "
                                f"{way} the order")
    return problems


def check_lazy_imports(modules: dict[str, Module], optional: set[str]) -> list[str]:
    """One line per import inside a function that has no `# lazy:` reason, or whose
    reason cannot be an optional package."""
    needs = _needs_optional(modules, optional)
    problems = []
    for name, module in sorted(modules.items()):
        for imp in module.imports:
            if not imp.lazy:
                continue
            justified = imp.target in needs if imp.internal else _is_optional(imp.target, optional)
            if not imp.reason:
                problems.append(f"{_where(module, imp)}: import of {imp.target} inside a function "
                                f"without a '# lazy: <reason>' comment")
            elif not justified:
                problems.append(f"{_where(module, imp)}: {imp.target} is not optional; import it "
                                f"at module level")
    return problems


def _needs_optional(modules: dict[str, Module], optional: set[str]) -> set[str]:
    """Our modules whose import (at module level, directly or through ours) needs an
    optional package."""
    needs = {name for name, m in modules.items()
             if any(not i.internal and not i.lazy and _is_optional(i.target, optional) for i in m.imports)}
    changed = True
    while changed:
        changed = False
        for name, m in modules.items():
            if name not in needs and any(i.internal and not i.lazy and i.target in needs
                                         for i in m.imports):
                needs.add(name)
                changed = True
    return needs


def _is_optional(name: str, optional: set[str]) -> bool:
    """`name` is an optional package or a module inside one (optional may also list a
    submodule of a required package, "onnx.inliner")."""
    parts = name.split(".")
    return any(".".join(parts[:end]) in optional for end in range(1, len(parts) + 1))


def _where(module: Module, imp: Import) -> str:
    return f"{module.path}:{imp.line}"
