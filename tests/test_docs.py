"""The front page and docs/: links that resolve, tables that are their results files', a README read in ten minutes."""

import ast
import re
import shutil

import pytest
from conftest import ROOT

from bench import tables

PAGES = ["README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))]
DOCS = ["method.md", "results.md", "transfer.md", "benchmarks.md", "cli.md", "api.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def broken_links(page, root=ROOT):
    """The relative links and images of ``page`` whose file (or heading) does not exist."""
    path = root / page
    broken = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+://", target):
            continue  # the web is not reachable from the tests
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", linked.read_text(), re.M)
            if anchor not in {slug(heading) for heading in headings}:
                broken.append(target)
    return broken


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_and_image_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n[b](b.md) [up](../gone.png) [here](#a-page) [no](#nowhere)\n")
    (tmp_path / "docs" / "b.md").write_text("# B\n")
    assert broken_links("docs/a.md", tmp_path) == ["../gone.png", "#nowhere"]


def test_every_table_is_the_one_its_results_file_makes():
    """Each table of figures in README.md and docs/ is what `python -m bench.tables` writes from bench/*.json."""
    assert tables.stale() == []


def copy_of_the_tables(tmp_path):
    for name in ["README.md", "docs", "bench"]:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, tmp_path / name)
    return tmp_path


def test_a_figure_changed_in_a_results_file_or_a_page_is_found(tmp_path):
    root = copy_of_the_tables(tmp_path)
    grids = root / "bench" / "grids.json"
    grids.write_text(grids.read_text().replace('"exact": 0.9993', '"exact": 0.9992', 1))
    assert tables.stale(root) == ["README.md: | network | grid | epochs | exact | pieces |",
                                  "docs/results.md: | network | grid | epochs | exact | pieces | permutation | τ | "
                                  "training | parameters |",
                                  "docs/results.md: | grid | epochs | exact: goal | exact: measured | pieces: goal | "
                                  "pieces: measured |"]
    shutil.copyfile(ROOT / "bench" / "grids.json", grids)
    page = root / "docs" / "benchmarks.md"
    page.write_text(page.read_text().replace("| ratio (goal ≤ 2x) | ", "| ratio (goal ≤ 2x) | 9.99x | ", 1))
    assert tables.stale(root) == ["docs/benchmarks.md: | grid | 2x2 | 3x3 | 4x4 | 5x5 | 6x6 | 7x7 |"]


def test_with_tables_puts_each_table_in_place_of_its_namesake_and_names_a_missing_one(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nmore\n")
    written = tables.with_tables(["| a | b |\n|---|---|\n| 3 | 4 |"], page)
    assert written == "text\n\n| a | b |\n|---|---|\n| 3 | 4 |\n\nmore\n"
    with pytest.raises(ValueError, match=r"page.md: no table there has the header row \| c \| \.\.\.; add one"):
        tables.with_tables(["| c |\n|---|\n| 1 |"], page)


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.split()) <= 2000  # `wc -w README.md`
    lines = text.splitlines()
    assert lines.index("## Does jigsaw pretraining help pose estimation?") < 150
    order = ["## What is here", "## Quick start", "## Results", "## Does jigsaw pretraining help pose estimation?",
             "## How it works", "## From a notebook", "## The scripts at a glance", "## Reproduce every table",
             "## Layout", "## Licence and citation"]
    assert [line for line in lines if line.startswith("## ")] == order


@pytest.mark.parametrize("name", DOCS)
def test_each_doc_says_which_question_it_answers(name):
    text = (ROOT / "docs" / name).read_text()
    assert text.startswith("# ") and "Which question this page answers:" in text.split("\n\n", 2)[1]


def module_names(module):
    """The top-level names a project module defines, read from its source (no import, no TensorFlow)."""
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.ImportFrom) and node.module in {path.stem for path in ROOT.glob("*.py")}:
            names |= {alias.asname or alias.name for alias in node.names}  # re-exported from another module
    return names


@pytest.mark.parametrize("page", PAGES)
def test_every_function_the_docs_name_exists(page):
    """`run_folder.load_model` and the like: a name the docs give a user must be there to call."""
    modules = ["utils", "data", "tasks", "model_utils", "run_folder", "train", "evaluate", "transfer"]
    code = " ".join(re.findall(r"`([^`]+)`", (ROOT / page).read_text()))
    named = re.findall(rf"(?<![\w/.-])({'|'.join(modules)})\.([A-Za-z_]\w*)", code)
    files = {"py", "json", "png", "md", "keras", "csv", "npz", "ipynb"}  # train.py, transfer.json: files, not names
    missing = sorted({f"{module}.{name}" for module, name in named if name not in files | module_names(module)})
    assert missing == []


def readme_blocks():
    """.ci/readme_blocks.py, the owner of which README blocks CI runs, loaded from its file (.ci is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_blocks", ROOT / ".ci" / "readme_blocks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_has_the_two_blocks_ci_runs(tmp_path):
    """Set up and run, then set up and test: .ci/run runs exactly these, in a fresh clone."""
    module = readme_blocks()
    blocks = module.user_blocks((ROOT / "README.md").read_text())
    assert len(blocks) == 2
    assert "python train.py" in blocks[0] and "python -m pytest" in blocks[1]
    module.main(ROOT / "README.md", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1-run.sh", "2-test.sh"]
    assert (tmp_path / "2-test.sh").read_text() == blocks[1]


def test_a_readme_without_its_two_blocks_is_refused(tmp_path):
    (tmp_path / "README.md").write_text("# x\n\n```bash\npython -m venv .venv && . .venv/bin/activate\npytest\n```\n")
    with pytest.raises(SystemExit, match="1 bash blocks begin with"):
        readme_blocks().main(tmp_path / "README.md", tmp_path / "out")


def test_the_readme_snippet_runs_as_written(monkeypatch):
    """The README's notebook snippet is the front page's promise of the library: it must run unchanged."""
    import matplotlib

    matplotlib.use("Agg")
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(ROOT)
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - the project's own README
    assert namespace["decoded"].shape == (6, 9)
    assert (namespace["decoded"] == namespace["permutation"]).all()  # the true label decodes exactly
