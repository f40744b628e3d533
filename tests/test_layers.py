"""The package's rooms import one way (docs/architecture.md, "Rooms and what they may import").

Every import statement of ``pipeline/`` is read, those inside functions too (a lazy import is
still a dependency), and mapped to the room it names: a subpackage (``core``, ``io``,
``runner``, ``report``, ``export``, ``api``) or a top-level module (``factory``, ``stream``,
``cli``, ...). Two rules are checked: each room imports only the rooms it is allowed to, and
the rooms' graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"

#: The rooms from the bottom up, as docs/architecture.md draws them: a room may import the
#: rooms of lower lines only (not those of its own line). ``errors`` and ``redaction`` hold no
#: logic of a room (the error tree, the scrubbing of paths and secrets from messages).
LAYERS = [
    ["errors", "redaction"],
    ["core", "io"],
    ["config"],
    ["run_input", "factory", "evaluation"],
    ["report", "export"],
    ["runner"],
    ["stream"],
    ["api"],
    ["cli"],
]
ALLOWED = {room: {r for lower in LAYERS[:i] for r in lower}
           for i, line in enumerate(LAYERS) for room in line}


def room_of(module: str) -> str | None:
    """The room of a dotted module name inside the package (``pipeline.core.x`` -> ``core``)."""
    parts = module.split(".")
    if parts[0] != "pipeline":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module the import statements of ``source`` (the text of ``module``) name,
    relative imports resolved."""
    here = module.split(".")
    package = here if is_package else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from pipeline import report` names the room `report`, not the package.
            found.update(f"{stem}.{alias.name}" for alias in node.names)
            found.add(stem)
    return found


def room_edges() -> dict[tuple[str, str], set[str]]:
    """(importing room, imported room) -> the files that make the edge."""
    edges: dict[tuple[str, str], set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        src = room_of(module_name(path))
        source = path.read_text(encoding="utf-8")
        for module in imported_modules(source, module_name(path), path.name == "__init__.py"):
            dst = room_of(module)
            if dst is None or dst == src or dst == "__init__" or src == "__init__":
                continue
            if not (PACKAGE / dst).is_dir() and not (PACKAGE / f"{dst}.py").exists():
                continue  # a name taken from the package's __init__, not a room
            edges.setdefault((src, dst), set()).add(str(path.relative_to(PACKAGE.parent)))
    return edges


def test_every_room_is_known():
    rooms = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    rooms |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert rooms == set(ALLOWED), "add the new room to LAYERS and to docs/architecture.md"


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_room_imports_only_what_it_may(room):
    wrong = {f"{src} -> {dst}": files for (src, dst), files in room_edges().items()
             if src == room and dst not in ALLOWED[room]}
    assert not wrong, wrong


def test_the_rooms_have_no_cycle():
    graph: dict[str, set[str]] = {}
    for src, dst in room_edges():
        graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(room: str, path: list[str]) -> None:
        state[room] = 1
        for nxt in sorted(graph.get(room, ())):
            assert state.get(nxt) != 1, " -> ".join(path + [room, nxt])
            if nxt not in state:
                visit(nxt, path + [room])
        state[room] = 2

    for room in sorted(graph):
        if room not in state:
            visit(room, [])


def test_the_checker_sees_lazy_and_relative_imports():
    # The rules above are only as good as the reader: it must see an import inside a function
    # and resolve `from ..io import x` written in a core module.
    source = "def f():\n    from ..io import readers\n    import pipeline.runner.tasks\n"
    found = imported_modules(source, "pipeline.core.blocks", is_package=False)
    assert {"pipeline.io.readers", "pipeline.runner.tasks"} <= found
    assert {room_of(m) for m in found} == {"io", "runner"}
    assert "io" not in ALLOWED["core"] and "runner" not in ALLOWED["core"]
