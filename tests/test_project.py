"""The project's shape: one owner per job, a pyproject that agrees with requirements.txt, a tutorial that runs."""

import ast
import importlib.metadata
import json
import re
import sys
import tomllib

import pytest
from conftest import ROOT, project_files

import run_folder

SCRIPTS = {"train", "evaluate", "transfer"}
NOTEBOOK = ROOT / "notebooks" / "tutorial.ipynb"
PROJECT_FILES = project_files(folders=[".", ".ci", "bench", "sample"])


def test_project_files_are_the_tracked_ones_and_never_a_venv(tmp_path):
    """The folder list names every Python file git tracks, and nothing a venv inside the clone adds."""
    import subprocess

    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "site.py").write_text("")
    (tmp_path / "utils.py").write_text("")
    assert project_files(root=tmp_path) == [tmp_path / "utils.py"]
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout: no list of tracked files to compare with")
    assert [str(p.relative_to(ROOT)) for p in project_files()] == sorted(tracked.stdout.split())


def imported_modules(code):
    """Top-level module names a piece of Python code imports."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PROJECT_FILES, ids=[str(p.relative_to(ROOT)) for p in PROJECT_FILES])
def test_nothing_imports_a_script(path):
    assert not imported_modules(path.read_text()) & SCRIPTS, f"{path.name} imports a script; import the library instead"


LIBRARY = sorted(p for p in ROOT.glob("*.py") if p.stem not in SCRIPTS)


def library_imports():
    """Each library module -> the library modules it imports (anywhere in it, lazily too)."""
    names = {p.stem for p in LIBRARY}
    return {p.stem: imported_modules(p.read_text()) & names - {p.stem} for p in LIBRARY}


def import_cycle(graph):
    """One cycle of ``graph`` (module -> modules it imports) as a list of names, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for other in sorted(graph.get(node, ())):
            if state.get(other) == "open":
                return [*path[path.index(other):], other] if other in path else [node, other]
            if other not in state and (cycle := visit(other, [*path, other])):
                return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [node])):
            return cycle
    return None


def test_library_modules_import_one_way():
    # Each job has one owner, and owners import in one direction: a cycle means two
    # modules each need the other's job.
    assert import_cycle(library_imports()) is None, f"import cycle: {' -> '.join(import_cycle(library_imports()))}"


def bench_imports():
    """Each bench module -> the bench modules it imports (``from bench import x``, ``from bench.x import y``)."""
    names = {p.stem for p in project_files(folders=["bench"])} - {"__init__"}
    graph = {}
    for name in names:
        tree = ast.parse((ROOT / "bench" / f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "bench":
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bench."):
                found.add(node.module.split(".")[1])
        graph[name] = found & names - {name}
    return graph


def test_bench_modules_import_one_way():
    graph = bench_imports()
    assert graph["tables"], "bench.tables imports the modules that make the tables: the graph is read wrong"
    assert import_cycle(graph) is None, f"import cycle in bench/: {' -> '.join(import_cycle(graph))}"


def test_import_cycle_finds_a_cycle():
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


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
    return sorted(requirement_name(line) for line in lines if line and line[0].isalpha())


def requirement_name(line):
    """A requirement's distribution, normalised: ``scikit_image[data]>=0.2`` -> ``scikit-image``."""
    return normalise(re.split(r"[<>=!~; \[]", line.split("#")[0].strip())[0])


def requirements(path):
    """The distributions a requirements file installs, its ``-r`` includes followed, as normalised names."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r"):
            names |= requirements(path.parent / line[2:].strip())
        elif line:
            names.add(requirement_name(line))
    return names


def normalise(distribution):
    return re.sub(r"[-_.]+", "-", distribution).lower()


LOCAL_MODULES = {p.stem for p in ROOT.glob("*.py")} | {"bench", "sample", "tests", "conftest"}


def third_party_imports(sources):
    """``{module: [files]}`` of every module outside the standard library and the project that ``sources`` import."""
    found = {}
    for name, source in sources:
        # Notebook magics (%matplotlib inline) are not Python.
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for module in imported_modules(code):
            if module not in sys.stdlib_module_names and module not in LOCAL_MODULES:
                found.setdefault(module, []).append(name)
    return found


def notebook_code(path):
    return "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                     if cell["cell_type"] == "code")


def project_sources(tests):
    """(name, code) of the project's files: the library, scripts, bench and sample (or the tests and notebook)."""
    if tests:
        paths = sorted((ROOT / "tests").glob("*.py"))
        return [(str(p.relative_to(ROOT)), p.read_text()) for p in paths] + [("notebooks/tutorial.ipynb",
                                                                              notebook_code(NOTEBOOK))]
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in PROJECT_FILES]


@pytest.mark.parametrize("tests", [False, True], ids=["code", "tests"])
def test_every_third_party_import_is_a_listed_requirement(tests):
    """A module the code imports comes from requirements.txt (the tests': requirements-test.txt).

    An install made by hand can hide a missing requirement; CI runs in a fresh virtual
    environment, where such a module is either missing (and named here) or was installed
    only as another package's dependency (and is named here too).
    """
    listed = requirements(ROOT / ("requirements-test.txt" if tests else "requirements.txt"))
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, files in sorted(third_party_imports(project_sources(tests)).items()):
        distributions = {normalise(d) for d in providers.get(module, [])}
        if not distributions:
            problems.append(f"{module} (imported by {files[0]}) is not installed")
        elif not distributions & listed:
            problems.append(f"{module} (imported by {files[0]}) comes from {sorted(distributions)}, not listed")
    assert not problems, "; ".join(problems)


def test_the_requirements_test_sees_a_missing_requirement(tmp_path):
    """The check above can fail: a module whose distribution is not listed is caught."""
    assert third_party_imports([("x.py", "import numpy\nimport os\nfrom utils import shuffle_pieces\n")]) == {
        "numpy": ["x.py"]}
    (tmp_path / "base.txt").write_text("numpy>=1  # the arrays\n")
    (tmp_path / "req.txt").write_text("-r base.txt\nscikit_image[data]>=0.2\n")
    assert requirements(tmp_path / "req.txt") == {"numpy", "scikit-image"}


def test_pyproject_dependencies_match_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements_txt = (ROOT / "requirements.txt").read_text().splitlines()
    assert sorted(project["dependencies"]) == sorted(line for line in requirements_txt if line and line[0].isalpha())
    test_requirements = (ROOT / "requirements-test.txt").read_text().splitlines()
    assert requirement_names(project["optional-dependencies"]["test"]) == requirement_names(test_requirements)


def test_pyproject_names_every_top_level_module():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert sorted(tool["setuptools"]["py-modules"]) == sorted(p.stem for p in ROOT.glob("*.py"))



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
    # The tutorial says what to expect: its 3-epoch 2x2 model solves most of the sample's 1,000 test
    # puzzles (chance is 1 in 24). The printed score must be a percentage above half.
    scores = [float(match) for text in texts for match in re.findall(r"^exact: (\d+\.\d)%", text, re.M)]
    assert len(scores) == 1 and 50.0 < scores[0] <= 100.0, texts


def test_the_shipped_models_are_small_whole_run_folders():
    """models/: the few trained runs a user tries without training, at most 20 MB in all."""
    from bench import photos

    folders = sorted(path for path in (ROOT / "models").iterdir() if path.is_dir())
    assert [path.name for path in folders] == ["photos-2x2", "photos-3x3", "photos-4x4"]
    total = sum(path.stat().st_size for path in (ROOT / "models").rglob("*") if path.is_file())
    assert total <= photos.MODELS_MB * 2**20
    for folder in folders:
        assert sorted(path.name for path in folder.iterdir()) == sorted(photos.SHIPPED)
        config = json.loads((folder / "config.json").read_text())
        assert config["crop"] and config["edge_bias"] == "gradient" and config["image_size"] == [48, 48]
