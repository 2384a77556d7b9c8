"""No Python eval, exec or compile of anything a user or a model supplies: none at all."""

import ast
from pathlib import Path

from django.conf import settings

FORBIDDEN = {"eval", "exec", "compile", "__import__"}
SKIP = {".venv", "var", "node_modules", ".git"}


def _project_files():
    root = Path(settings.BASE_DIR)
    for path in root.rglob("*.py"):
        if not SKIP.intersection(path.relative_to(root).parts):
            yield path


def test_no_builtin_eval_exec_or_compile_anywhere():
    offenders = []
    files = list(_project_files())
    assert len(files) > 50  # the walk found the project
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN
            ):
                offenders.append(f"{path}:{node.lineno} {node.func.id}()")
    assert not offenders, offenders
