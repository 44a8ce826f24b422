"""Every public module, function and class of the package says what it is: a docstring, or for a
registered component its ``description`` (what ``merauto space`` prints)."""

from __future__ import annotations

import ast
from pathlib import Path

import merauto

ROOT = Path(merauto.__file__).parent


def _describes_itself(node: ast.ClassDef) -> bool:
    """A registered component: a class body that assigns ``description``."""
    return any(isinstance(s, ast.Assign) and any(getattr(t, "id", "") == "description" for t in s.targets) for s in node.body)


def test_every_public_module_function_and_class_has_a_docstring() -> None:
    missing = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        where = path.relative_to(ROOT.parent)
        if ast.get_docstring(tree) is None:
            missing.append(f"{where} (module)")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_") and ast.get_docstring(node) is None:
                if not (isinstance(node, ast.ClassDef) and _describes_itself(node)):
                    missing.append(f"{where}:{node.lineno} {node.name}")
    assert missing == []
