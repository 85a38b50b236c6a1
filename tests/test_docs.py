"""The front page and docs/: links that resolve, tables that are their results files', a README read in ten minutes."""

import ast
import json
import re
import shutil

import pytest
from conftest import ROOT

from bench import tables

PAGES = ["README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))]
DOCS = ["method.md", "results.md", "transfer.md", "transfer-tables.md", "figures.md", "benchmarks.md", "cli.md",
        "api.md"]
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
             "## How it works", "## Your own images and keypoints", "## From a notebook", "## The scripts at a glance",
             "## Reproduce every table", "## Layout", "## Licence and citation"]
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
    modules = ["utils", "data", "crops", "borders", "tasks", "coco", "model_utils", "training", "run_folder", "train",
               "evaluate", "transfer"]
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


# A measured figure in prose: a signed or decimal number, a percentage, a duration, or a count of seeds ("4/5").
FIGURE = re.compile(r"(?<![\w.])([+-]?\d[\d,]*(?:\.\d+)?)\s*(%|s\b|min\b|/5\b)|(?<![\w.])([+-]?\d+\.\d+)(?!\w|\.\d)")


def prose(markdown):
    """``markdown`` without what is not prose: fenced blocks (the output blocks have their own test), tables, links."""
    text = re.sub(r"^```[a-z]*\n.*?^```\n", "", markdown, flags=re.S | re.M)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("|"))
    text = re.sub(r"\]\([^)]*\)", "]", text)
    # Names that hold numbers but quote no measurement: versions, an arXiv id, a metric's threshold.
    return re.sub(r"arXiv \S+|Python \d+\.\d+|BY-SA \d+\.\d+|@\d+\.\d+", "", text)


def figures_in(markdown):
    """Each measured figure of ``markdown``'s prose: ``(number as written, unit)``, e.g. ``("98.60", "%")``."""
    found = []
    for match in FIGURE.finditer(prose(markdown)):
        number, unit = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), "")
        found.append((number, unit))
    return found


def known_numbers(root=ROOT):
    """Every number the results files hold (key, value), and the text of every table written from them."""
    pairs = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            pairs.append((key, float(value)))
        elif isinstance(value, str):
            pairs.extend((key, float(n)) for n in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", value))

    for path in sorted((root / "bench").glob("*.json")):
        walk(json.loads(path.read_text()))
    tables_text = "\n".join(table for page in tables.documents(root).values() for table in page)
    return pairs, tables_text


def figure_is_known(number, unit, pairs, tables_text):
    """Whether a figure as written is a results file's number (as is, or as a percentage) or a table's."""
    if unit == "/5":
        return f"{number}/5" in tables_text
    if re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", tables_text):
        return True
    value = abs(float(number.replace(",", "")))
    places = len(number.split(".")[1]) if "." in number else 0
    if unit in ("s", "min"):
        seconds = value * (60 if unit == "min" else 1)
        return any(round(v) == round(seconds) for key, v in pairs if "second" in key)
    scales = (1, 100) if unit == "%" or places else (1,)
    return any(round(abs(v) * scale, places) == value for _, v in pairs for scale in scales)


def test_every_figure_the_readme_quotes_is_in_a_results_file():
    """A figure in the README's prose is one that a results file holds, or a table made from one."""
    pairs, tables_text = known_numbers()
    figures = figures_in((ROOT / "README.md").read_text())
    assert figures, "the README quotes no figure: the pattern is broken"
    unknown = [f"{number}{unit}" for number, unit in figures if not figure_is_known(number, unit, pairs, tables_text)]
    assert unknown == []


def test_a_figure_in_no_results_file_is_found():
    pairs, tables_text = [("train_seconds", 52.3), ("exact", 0.986)], "| jigsaw | +9.6 (4/5: ...) |"
    text = ("It solves 98.60 % after 52 s, +9.6 points (4/5); 98.90 %, 13 min 07 s, 3/5 and 0.1234. PCK@0.1 on "
            "Python 3.11 ([arXiv 2012.07101](https://arxiv.org/abs/2012.07101)).\n```bash\nx 1.5 %\n```\n"
            "```\n1000 test puzzles, 2.2 s\n```\n")
    figures = figures_in(text)
    assert [f for f in figures if not figure_is_known(*f, pairs, tables_text)] == [
        ("98.90", "%"), ("13", "min"), ("07", "s"), ("3", "/5"), ("0.1234", "")]


def test_every_cpu_the_readme_names_is_a_results_files_cpu():
    named = set(re.findall(r"`((?:AMD|Intel)[^`]*)`", prose((ROOT / "README.md").read_text())))
    recorded = {cpu for path in (ROOT / "bench").glob("*.json") for cpu in re.findall(r'"cpu": "([^"]+)"',
                                                                                     path.read_text())}
    assert named and named <= recorded


def cpus_recorded(results):
    """The CPUs a results file records: its own ``cpu``, or each row's or cell's (grids.json, transfer.json)."""
    if "cpu" in results:
        return [results["cpu"]]
    rows = results.get("cells") or [row for row in results.values() if isinstance(row, dict)]
    return [row.get("cpu") for row in rows]


@pytest.mark.parametrize("name", sorted(path.name for path in (ROOT / "bench").glob("*.json")))
def test_every_results_file_records_its_cpu(name):
    """docs/benchmarks.md promises it: a figure's seconds mean something only beside their CPU."""
    cpus = cpus_recorded(json.loads((ROOT / "bench" / name).read_text()))
    assert cpus and all(isinstance(cpu, str) and cpu for cpu in cpus), f"{name} records no CPU for some figures"


def fenced_blocks(markdown):
    """The fenced blocks of ``markdown`` in order: ``[(language or "", text)]``, each fence closed by the next."""
    blocks, language, lines = [], None, []
    for line in markdown.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip(), []
            else:
                blocks.append((language, "\n".join(lines)))
                language = None
        elif language is not None:
            lines.append(line)
    return blocks


def test_fenced_blocks_are_read_fence_by_fence():
    assert fenced_blocks("a\n```bash\nx\n```\n\n```\ny\nz\n```\n") == [("bash", "x"), ("", "y\nz")]


def test_the_readme_quotes_its_examples_output_from_their_results_file():
    """The quick start's and the keypoints example's output blocks are lines that bench.quickstart recorded."""
    from bench import quickstart

    results = json.loads((ROOT / "bench" / "quickstart.json").read_text())
    text = (ROOT / "README.md").read_text()
    outputs = [block for language, block in fenced_blocks(text) if not language]
    assert len(outputs) == len(quickstart.EXAMPLES)
    for (name, (commands, _, _)), output in zip(quickstart.EXAMPLES.items(), outputs, strict=True):
        assert results[name]["commands"] == commands
        assert all(command in text for command in commands), f"the README no longer runs the {name} example"
        assert output.strip() in results[name]["printed"], f"the README's {name} output is not what it printed"
