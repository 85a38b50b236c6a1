"""The project's shape: one owner per job, a pyproject that agrees with requirements.txt, a tutorial that runs."""

import ast
import json
import tomllib

import pytest
from conftest import ROOT

import run_folder

SCRIPTS = {"train", "evaluate", "transfer"}
PROJECT_FILES = sorted(p for p in ROOT.rglob("*.py") if ".git" not in p.parts and "tests" not in p.parts)


def imported_modules(path):
    """Top-level module names a Python file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PROJECT_FILES, ids=[str(p.relative_to(ROOT)) for p in PROJECT_FILES])
def test_nothing_imports_a_script(path):
    assert not imported_modules(path) & SCRIPTS, f"{path.name} imports a script; import the library instead"


RUN_FILE_NAMES = [run_folder.CONFIG, run_folder.BEST, run_folder.FINAL, run_folder.LOG, run_folder.LOSS_PLOT,
                  run_folder.VAL_METRICS, run_folder.METRICS]


@pytest.mark.parametrize("path", PROJECT_FILES, ids=[str(p.relative_to(ROOT)) for p in PROJECT_FILES])
def test_run_folder_names_are_spelled_only_in_run_folder(path):
    if path.name == "run_folder.py":
        return
    strings = [node.value for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    code = [s for s in strings if s in RUN_FILE_NAMES]  # whole string literals, not docstrings that mention them
    assert not code, f"{path.name} spells {code}; use run_folder's names"


def requirement_names(lines):
    return sorted(line.split(">")[0].split("=")[0].strip().lower() for line in lines if line and line[0].isalpha())


def test_pyproject_dependencies_match_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert sorted(project["dependencies"]) == sorted(line for line in requirements if line and line[0].isalpha())
    test_requirements = (ROOT / "requirements-test.txt").read_text().splitlines()
    assert requirement_names(project["optional-dependencies"]["test"]) == requirement_names(test_requirements)


def test_pyproject_names_every_top_level_module():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert sorted(tool["setuptools"]["py-modules"]) == sorted(p.stem for p in ROOT.glob("*.py"))


NOTEBOOK = ROOT / "notebooks" / "tutorial.ipynb"


def test_tutorial_is_committed_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text())
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code_cells and all(not cell["outputs"] and cell["execution_count"] is None for cell in code_cells)


@pytest.mark.slow
def test_tutorial_notebook_runs_every_cell(tmp_path, monkeypatch):
    """Executes the tutorial as a user would, in a fresh kernel; any failing cell fails the test."""
    import nbclient
    import nbformat

    # The kernel works in tmp_path (its run folder lands there) and finds the project through PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "runs" / "tutorial" / run_folder.CONFIG).is_file()
    texts = [output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])]
    assert any("exact:" in text for text in texts)
