"""The dependency rule of DESIGN.md, checked on the import statements of every module.

vendor_sctp < proto < media/input < runtime < app: a module never imports a layer
above its own, and the sans-IO layers never import a scheduler, sockets or the clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Rank of each layer; a module may import only layers of lower or equal rank.
LAYER_RANK = {
    "vendor_sctp": 0,
    "selkies_trio.proto": 1,
    "selkies_trio.media": 2,
    "selkies_trio.input": 2,
    "selkies_trio.runtime": 3,
    "selkies_trio.app": 4,
}
# Modules at the package root that every layer may use.
SHARED = {"selkies_trio", "selkies_trio.settings"}

# Sans-IO layers: no scheduler, no sockets, no clock.
SANS_IO = {"vendor_sctp", "selkies_trio.proto", "selkies_trio.media"}
FORBIDDEN_IN_SANS_IO = {"trio", "asyncio", "socket", "time", "selectors", "trio_websocket"}


def _layer_of(module: str) -> str | None:
    best = None
    for layer in LAYER_RANK:
        if (module == layer or module.startswith(layer + ".")) and (
            best is None or len(layer) > len(best)
        ):
            best = layer
    return best


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append(target)
    return found


def _source_files() -> list[Path]:
    files = sorted((ROOT / "vendor_sctp").rglob("*.py"))
    files += sorted((ROOT / "selkies_trio").rglob("*.py"))
    return files


@pytest.mark.parametrize("path", _source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_respects_dependency_rule(path: Path) -> None:
    module = _module_name(path)
    layer = _layer_of(module)
    for target in _imports(path):
        target_layer = _layer_of(target)
        if layer is not None and target_layer is not None:
            assert LAYER_RANK[target_layer] <= LAYER_RANK[layer], (
                f"{module} (layer {layer}) imports {target} from higher layer {target_layer}"
            )
        if layer is not None and target.startswith("selkies_trio") and target_layer is None:
            assert target in SHARED or target.startswith("selkies_trio.web"), (
                f"{module} imports {target}, which belongs to no layer"
            )
        if layer in SANS_IO:
            top = target.split(".")[0]
            assert top not in FORBIDDEN_IN_SANS_IO, f"sans-IO module {module} imports {target}"
        if layer == "vendor_sctp":
            assert not target.startswith("selkies_trio"), f"{module} imports {target}"


def test_rule_catches_a_violation(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a proto module importing trio.
    bad = ROOT / "selkies_trio" / "proto" / "_layering_probe.py"
    bad.write_text("import trio\nfrom ..runtime import x\n")
    try:
        with pytest.raises(AssertionError):
            test_module_respects_dependency_rule(bad)
    finally:
        bad.unlink()
