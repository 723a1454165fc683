"""The house as docs/ARCHITECTURE.md describes it: every module listed, and the arrows
between the layers running one way."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnnviz"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
# Outside the core: what draws (figures) and what talks to Streamlit (ui).
OUTER = ("figures", "ui")
CORE_MUST_NOT_IMPORT = ("streamlit", "plotly", "cnnviz.figures", "cnnviz.ui")


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, as dotted names (``from a import b`` gives a and a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def reaches(names: set[str], forbidden: str) -> bool:
    return any(name == forbidden or name.startswith(forbidden + ".") for name in names)


def test_every_module_is_in_the_architecture_document_and_nothing_else():
    listed = set(re.findall(r"`(cnnviz/[\w/]+\.py)`", DOC.read_text()))
    present = {str(p.relative_to(ROOT)) for p in modules()}
    assert not present - listed, f"add these modules to docs/ARCHITECTURE.md: " \
                                 f"{sorted(present - listed)}"
    assert not listed - present, f"docs/ARCHITECTURE.md names modules that do not exist: " \
                                 f"{sorted(listed - present)}"


@pytest.mark.parametrize("path", [p for p in modules()
                                  if p.relative_to(PACKAGE).parts[0] not in OUTER],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_neither_streamlit_nor_figures(path):
    names = imported(path)
    wrong = [f for f in CORE_MUST_NOT_IMPORT if reaches(names, f)]
    assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}: the core must not"


@pytest.mark.parametrize("path", sorted((PACKAGE / "figures").glob("*.py")),
                         ids=lambda p: p.name)
def test_figures_never_import_the_ui(path):
    names = imported(path)
    assert not reaches(names, "cnnviz.ui") and not reaches(names, "streamlit")


def test_the_checks_would_see_a_wrong_import(tmp_path):
    """The import reader finds both spellings of an import the rules forbid."""
    sample = tmp_path / "sample.py"
    sample.write_text("import streamlit as st\nfrom cnnviz.figures import colours\n")
    names = imported(sample)
    assert reaches(names, "streamlit") and reaches(names, "cnnviz.figures")


def test_the_readme_points_only_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "../" not in readme and "docs/ARCHITECTURE.md" in readme


TRAIN = PACKAGE / "train"
LABS = sorted(p.name for p in TRAIN.iterdir() if (p / "__init__.py").exists())
# The two doors of the core into the labs: the public names and the lab's command line.
DOORS = ("__init__.py", "__main__.py")


def test_the_training_core_is_small_and_each_lab_has_a_room():
    assert LABS == ["depth", "scratch", "transfer"]
    assert len(list(TRAIN.glob("*.py"))) <= 12


@pytest.mark.parametrize("path", sorted(TRAIN.rglob("*.py")), ids=lambda p: str(p.relative_to(TRAIN)))
def test_a_lab_imports_the_core_and_never_another_lab(path):
    parts = path.relative_to(TRAIN).parts
    own = parts[0] if len(parts) > 1 else None
    if own is None and path.name in DOORS:
        return
    reached = {lab for lab in LABS if reaches(imported(path), f"cnnviz.train.{lab}")}
    assert reached <= {own}, f"{path.relative_to(ROOT)} imports the lab(s) {sorted(reached - {own})}"
