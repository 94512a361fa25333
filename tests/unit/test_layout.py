"""The layout the folder tree promises (docs/architecture.md): the runtime package never imports
the actions or the benchmarks, and every dotted path a configuration or deployment file names
still resolves after a module moves."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(source: str) -> set[str]:
    """The absolute module names a piece of Python source imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def forbidden_imports(source: str) -> set[str]:
    return {m for m in imported_modules(source) if m.split(".")[0] in ("actions", "bench")}


def test_the_scanner_catches_a_runtime_module_importing_an_action_or_a_benchmark():
    source = "import os\nfrom actions.runtime import responder\nimport bench.accuracy\n"
    assert forbidden_imports(source) == {"actions.runtime", "bench.accuracy"}
    assert forbidden_imports("from bot.contract import ROUTES\n") == set()


def test_nothing_in_bot_imports_the_actions_or_the_benchmarks():
    offenders = {
        str(path.relative_to(ROOT)): sorted(found)
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if (found := forbidden_imports(path.read_text()))
    }
    assert not offenders, f"bot/ must not import actions/ or bench/: {offenders}"


CONFIG_FILES = [
    "config.yml",
    "endpoints.yml",
    "credentials.yml",
    "deploy/Procfile",
    "deploy/Dockerfile",
    "deploy/helm/values-rasa.yaml",
    "deploy/helm/values-action-server.yaml",
    "deploy/kubernetes/sen-services.yaml",
    *[str(p.relative_to(ROOT)) for p in sorted((ROOT / "deploy" / "systemd").glob("*"))],
]
DOTTED = re.compile(r"(?<![\w./-])((?:bot|actions|bench)(?:\.[A-Za-z_]\w*)+)")


def named_paths() -> list[tuple[str, str]]:
    found = []
    for name in CONFIG_FILES:
        path = ROOT / name
        if path.is_file():
            found += [(name, dotted) for dotted in sorted(set(DOTTED.findall(path.read_text())))]
    return found


def resolves(dotted: str) -> bool:
    """A module, or an attribute (class) of a module."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        target = module
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_the_configuration_and_deployment_files_name_modules():
    assert len(named_paths()) >= 15, "the pattern stopped finding the dotted paths"


@pytest.mark.parametrize("source,dotted", named_paths())
def test_every_dotted_path_a_configuration_or_deployment_file_names_resolves(source, dotted):
    assert resolves(dotted), f"{source} names {dotted}, which does not exist"
