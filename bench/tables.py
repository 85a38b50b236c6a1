"""Every table of figures in README.md and docs/, written from its results file; and the README's pictures.

    python -m bench.tables            # rewrite every table in place, and draw the pictures
    python -m bench.tables --check    # write nothing; one line per table that differs from its results file

A table is found in its Markdown file by its header row, and replaced whole: a figure edited by
hand comes back as the results file says, and a table whose header changed (a new column, say)
is named instead of written. The transfer tables are made by bench.transfer_table from
bench/transfer.json, the results tables by bench.grids from bench/grids.json (and bench.photos
from bench/photos.json), the speed tables by bench.bench, bench.levers and bench.images from
their JSON files, and the figures study's by bench.figures_table from bench/figures-transfer.json.
Nothing here trains or imports TensorFlow.
"""

import pathlib
import re

import utils
from cli import CleanArgumentParser, run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
PICTURES = {"results": ROOT / "sample" / "results.png", "answer": ROOT / "sample" / "transfer-pose.png"}


def documents(root=ROOT):
    """``{Markdown file: [its tables, each made from its results file]}``, relative to ``root``."""
    from bench import bench, figures_table, grids, images, levers, photos, transfer_table

    def load(name):
        return utils.load_json(pathlib.Path(root) / "bench" / name)

    grid_rows = load("grids.json")
    transfer = load("transfer.json")
    cells = transfer["cells"]
    printed = transfer_table.markdown(transfer_table.summarise(cells)) + "\n\n" + transfer_table.paired(cells)
    pose_curve = [transfer_table.curve_markdown([c for c in transfer["curve"] if "val_f1" in c])
                  ] if any("val_f1" in cell for cell in transfer.get("curve", [])) else []
    # Images other than MNIST: their tables once their results files are measured.
    measured = {name: (pathlib.Path(root) / "bench" / name).is_file()
                for name in ("images.json", "photos.json", "figures-transfer.json")}
    return {
        "README.md": [grids.short_markdown(grid_rows), transfer_table.answer_markdown(cells)],
        "docs/results.md": [grids.markdown(grid_rows), grids.goals_markdown(grid_rows),
                            *([photos.markdown(load("photos.json")), photos.goals_markdown(load("photos.json")),
                               photos.levers_markdown(load("photos.json"))] if measured["photos.json"] else [])],
        "docs/benchmarks.md": [bench.speed_markdown(load("results.json")),
                               bench.speed_markdown(load("results-default.json")),
                               bench.cost_markdown(load("cost.json")),
                               levers.markdown(load("levers.json"), load("threads.json")),
                               *([images.markdown(load("images.json"))] if measured["images.json"] else [])],
        "docs/transfer.md": [transfer_table.answer_markdown(cells), *pose_curve],
        "docs/transfer-tables.md": [*transfer_table.tables_of(printed), transfer_table.cost_markdown(cells)],
        "docs/figures.md": (figures_table.tables(load("figures-transfer.json"))
                            if measured["figures-transfer.json"] else []),
    }


def with_tables(tables, path):
    """The Markdown file at ``path`` with ``tables`` each in place of its namesake there.

    Args:
        tables: Markdown tables, each a header row, a rule and its rows.
        path: the file; read, not written.

    Returns:
        str: the file's new text.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a table whose header row the file lacks (its kind or its columns changed).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    text = path.read_text()
    for table in tables:
        header = table.split("\n")[0]
        place = re.search(f"^{re.escape(header)}\n(?:\\|.*(?:\n|$))*", text, re.M)
        if place is None:
            raise ValueError(f"{path}: no table there has the header row {header.split(' |')[0]} | ...; "
                             "add one, then run again")
        text = text[:place.start()] + table + "\n" + text[place.end():]
    return text


def stale(root=ROOT):
    """The tables that differ from their results files: ``["docs/results.md: | grid | epochs | ..."]``."""
    found = []
    for name, tables in documents(root).items():
        text = (pathlib.Path(root) / name).read_text()
        found += [f"{name}: {table.splitlines()[0]}" for table in tables if f"\n{table}\n" not in f"\n{text}\n"]
    return found


def draw(root=ROOT):
    """The README's two pictures, from bench/grids.json and bench/transfer.json."""
    from bench import grids, transfer_table

    grids.plot(utils.load_json(pathlib.Path(root) / "bench" / "grids.json"), PICTURES["results"])
    transfer_table.answer_plot(utils.load_json(pathlib.Path(root) / "bench" / "transfer.json")["cells"],
                               PICTURES["answer"])


def main(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="tables.py")
    parser.add_argument("--check", action="store_true",
                        help="write nothing: name each table that differs from its results file, exit 1 if any")
    args = parser.parse_args(argv)

    def work():
        if args.check:
            differ = stale()
            for line in differ:
                print(f"stale: {line}")
            return 1 if differ else 0
        # Every file is checked before one is written: a missing table stops the command whole.
        texts = {name: with_tables(tables, ROOT / name) for name, tables in documents().items()}
        for name, text in texts.items():
            with utils.atomic_path(ROOT / name) as tmp:
                tmp.write_text(text)
        draw()
        pictures = ", ".join(str(path.relative_to(ROOT)) for path in PICTURES.values())
        print(f"tables written into {', '.join(texts)}; pictures {pictures}")
        return 0

    raise SystemExit(run_script("tables.py", work))


if __name__ == "__main__":
    main()
