"""The transfer table: does solving jigsaw puzzles teach features that help a real task?

    python -m bench.transfer_table --data path/to/mnist.npz                  # pretext runs, then every cell
    python -m bench.transfer_table --data path/to/mnist.npz --seeds 0 1 2 --tasks classify

First the pretext runs (train.py): the default network's jigsaw at 2x2, 3x3 and 4x4, the
original U-Net's at 2x2, and the control pretext (denoising) of both 2x2 networks, the
epochs of each chosen so that every run trains for about ten minutes on a 2-core CPU. Then
one transfer.py command per initialisation and task, every cell of the table in it; the
scratch rows use the same architecture with random weights. A pretext run folder, or a
cell already in its row's cells file (same labels and seed), is read, not redone (--retrain
redoes them): adding seeds runs only the new ones. Everything runs one job at a time. The
table is written as JSON (--json, default bench/transfer.json), printed as Markdown for the
README, and plotted (--plot, default sample/transfer.png).
"""

import functools
import pathlib

import numpy as np

import run_folder
import utils
from bench.bench import network_flags
from bench.grids import ROOT, run
from cli import CleanArgumentParser, run_script

# The piece transformer the table measures: pieces straight into one linear map, no attention
# bias (the default network before --piece-filters and --edge-bias existed).
TRANSFORMER = ["--piece-filters", "0", "--edge-bias", "none"]
# name -> train.py flags. About ten minutes each on the 2-core CPU the table was made on.
PRETEXTS = {
    "jigsaw-transformer-2x2": ["--grid", "2", "--epochs", "4", *TRANSFORMER],
    "jigsaw-transformer-3x3": ["--grid", "3", "--epochs", "3", *TRANSFORMER],
    "jigsaw-transformer-4x4": ["--grid", "4", "--epochs", "2", *TRANSFORMER],
    "jigsaw-unet-2x2": ["--grid", "2", "--epochs", "1", *network_flags("unet")],
    "denoise-transformer-2x2": ["--grid", "2", "--epochs", "4", "--pretext", "denoise", *TRANSFORMER],
    "denoise-unet-2x2": ["--grid", "2", "--epochs", "1", "--pretext", "denoise", "--arch", "unet",
                         "--warmup-steps", "0"],
}
SCRATCH = {
    "scratch-transformer-2x2": ["--scratch", "--grid", "2", *TRANSFORMER],
    "scratch-transformer-3x3": ["--scratch", "--grid", "3", *TRANSFORMER],
    "scratch-transformer-4x4": ["--scratch", "--grid", "4", *TRANSFORMER],
    "scratch-unet-2x2": ["--scratch", "--grid", "2", "--arch", "unet"],
}
INITS = [*SCRATCH, *PRETEXTS]
# (task, mode) -> (labels, initialisations). Fine-tuning on every digit is left out (it is
# the costly cell, and few labels are the question); keypoints only for the two 2x2
# networks (a canvas is six times the pixels of a digit).
CELLS = {
    ("classify", "linear"): (["100", "1000", "all"], INITS),
    ("classify", "finetune"): (["100", "1000"], INITS),
    ("keypoints", "linear"): (["100", "1000"], [name for name in INITS if name.endswith("2x2")]),
    ("keypoints", "finetune"): (["100", "1000"], [name for name in INITS if name.endswith("2x2")]),
}
TASKS = ["classify", "keypoints"]
HEADLINE = {"classify": "accuracy", "pose": "f1", "keypoints": "found"}  # each task's score in the table
MODES = ["linear", "finetune"]


def get_args(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="transfer_table.py")
    parser.add_argument("--data", default="sample", help="MNIST source as for train.py (default: the bundled sample)")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS, help="tasks to run (default: both)")
    parser.add_argument("--modes", nargs="+", default=MODES, choices=MODES, help="modes to run (default: both)")
    parser.add_argument("--only", nargs="+", choices=INITS, help="only these initialisations (default: all)")
    parser.add_argument("--labels", nargs="+", help="only these --labels values (default: each cell's, above)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="seeds of every cell (default 0 1 2 3 4)")
    parser.add_argument("--runs", default="runs/transfer", help="folder of the pretext runs and the cells' files "
                                                                "(default runs/transfer)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "transfer.json"),
                        help="results file (default bench/transfer.json)")
    parser.add_argument("--plot", default=str(ROOT / "sample" / "transfer.png"),
                        help="plot of accuracy against labels (default sample/transfer.png)")
    parser.add_argument("--retrain", action="store_true", help="redo pretext runs and cells that exist")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing: make the table, the JSON and the plot from the cells already measured")
    return parser.parse_args(argv)


def pretext_command(name, data, runs):
    return ["python", "train.py", "--data", data, *PRETEXTS[name], "--out", str(pathlib.Path(runs) / name)]


def transfer_command(init, task, mode, labels, seeds, data, runs, json=None):
    """One transfer.py command line; it writes ``json`` (default: the cells file of the row)."""
    source = SCRATCH[init] if init in SCRATCH else ["--pretrained", str(pathlib.Path(runs) / init)]
    json = cells_file(init, task, mode, runs) if json is None else json
    return ["python", "transfer.py", *source, "--data", data, "--task", task, "--labels", *labels, "--mode", mode,
            "--seeds", *map(str, seeds), "--json", str(json)]


def cells_file(init, task, mode, runs):
    return pathlib.Path(runs) / "cells" / f"{init}-{task}-{mode}.json"


def missing(cells, labels, seeds):
    """The cells still to measure, as transfer.py runs: ``[(labels, seeds)]``, seeds that miss the same labels together.

    Args:
        cells: the cells already measured (a cells file's list of dicts).
        labels: the ``--labels`` values the table wants.
        seeds: the seeds it wants.
    """
    measured = {(str(cell["labels"]), cell["seed"]) for cell in cells}
    runs = {}
    for seed in seeds:
        wanted = tuple(value for value in labels if (value, seed) not in measured)
        if wanted:
            runs.setdefault(wanted, []).append(seed)
    return [(list(wanted), chosen) for wanted, chosen in runs.items()]


def measure(command_for, path, labels, seeds, retrain):
    """Runs transfer.py for every cell of ``path`` not yet measured and merges what it measured into ``path``.

    ``command_for(labels, seeds, json=path)`` is the transfer.py command line. Each run
    writes its own file, merged into the cells file once it ends, so a stopped run loses
    only its own cells.
    """
    done = utils.load_json(path) if path.is_file() else []
    for chosen_labels, chosen_seeds in missing([] if retrain else done, labels, seeds):
        part = path.with_name(path.stem + ".part.json")
        run(command_for(chosen_labels, chosen_seeds, json=part))
        fresh = utils.load_json(part)
        keys = {(str(cell["labels"]), cell["seed"]) for cell in fresh}  # a cells file holds one task and mode
        done = [c for c in done if (str(c["labels"]), c["seed"]) not in keys] + fresh
        utils.save_json(done, path)
        part.unlink()


def planned(args):
    """The transfer.py commands to run: ``[(init, task, mode, labels)]``."""
    plan = []
    for (task, mode), (labels, inits) in CELLS.items():
        if task in args.tasks and mode in args.modes:
            chosen = [value for value in labels if not args.labels or value in args.labels]
            plan += [(init, task, mode, chosen) for init in inits if chosen and (not args.only or init in args.only)]
    return plan


def summarise(cells):
    """``{(task, labels, mode, init): (mean, std, n, seconds)}`` of the headline score over seeds."""
    groups = {}
    for cell in cells:
        score = cell[HEADLINE[cell["task"]]]
        key = (cell["task"], str(cell["labels"]), cell["mode"], cell["init"])
        groups.setdefault(key, []).append((score, cell["seconds"]))
    return {key: (float(np.mean([s for s, _ in v])), float(np.std([s for s, _ in v])), len(v),
                  float(np.mean([t for _, t in v]))) for key, v in groups.items()}


def markdown(summary):
    """One Markdown table per task: a row per initialisation, a column per (labels, mode)."""
    seeds = max(value[2] for value in summary.values())
    tables = []
    for task in sorted({key[0] for key in summary}, key=TASKS.index):
        inits = sorted({key[3] for key in summary if key[0] == task}, key=init_order)
        columns = sorted({key[1:3] for key in summary if key[0] == task},
                         key=lambda k: (label_order(k[0]), MODES.index(k[1])))
        lines = [f"| {task}: initialisation | " + " | ".join(f"{n} {m}" for n, m in columns) + " |",
                 "|---|" + "---|" * len(columns)]
        for init in inits:
            cells = []
            for column in columns:
                value = summary.get((task, *column, init))
                if value is None:
                    cells.append("")
                elif value[2] == 1:  # one seed: no spread to show
                    cells.append(f"{100 * value[0]:.1f} (1 seed)")
                else:  # a cell measured on fewer seeds than the table's most says how many
                    fewer = f" ({value[2]} seeds)" if value[2] < seeds else ""
                    cells.append(f"{100 * value[0]:.1f} ± {100 * value[1]:.1f}{fewer}")
            lines.append(f"| {init} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def init_order(init):
    """Table order of a cell's ``init`` ("jigsaw 2x2 transformer"): network, grid, then scratch, control, jigsaw."""
    kind, grid, arch = init.split(" ")
    return (arch != "transformer", grid, ["scratch", "denoise", "jigsaw"].index(kind))


def label_order(labels):
    return float("inf") if labels == "all" else int(labels)


def plot(summary, path):
    import matplotlib.pyplot as plt

    tasks = sorted({key[0] for key in summary}, key=TASKS.index)
    modes = ["linear", "finetune"]
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 4 * len(tasks)), squeeze=False)
    for row, task in enumerate(tasks):
        for col, mode in enumerate(modes):
            ax = axes[row, col]
            for init in sorted({key[3] for key in summary if key[0] == task}, key=init_order):
                points = sorted(((label_order(k[1]), v) for k, v in summary.items() if k[0] == task and k[2] == mode
                                 and k[3] == init), key=lambda p: p[0])
                xs = [60000 if x == float("inf") else x for x, _ in points]
                if xs:
                    ax.errorbar(xs, [100 * v[0] for _, v in points], yerr=[100 * v[1] for _, v in points],
                                marker="o", capsize=3, label=init, linestyle="--" if "scratch" in init else "-")
            ax.set_xscale("log")
            ax.set_xlabel("labelled digits" if task == "classify" else "labelled canvases")
            ax.set_ylabel("test accuracy (%)" if task == "classify" else "test digits found (%)")
            ax.set_title(f"{task}, {mode}")
            ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def main(argv=None):
    args = get_args(argv)

    def work():
        plan = planned(args)
        for name in PRETEXTS:
            needed = any(init == name for init, *_ in plan)
            missing = not (pathlib.Path(args.runs) / name / run_folder.CONFIG).is_file()
            if needed and not args.collect and (args.retrain or missing):
                run([*pretext_command(name, args.data, args.runs), "--quiet", "--overwrite"])
        cells, commands = [], {}
        for init, task, mode, labels in plan:
            command = transfer_command(init, task, mode, labels, args.seeds, args.data, args.runs)
            commands[f"{init} {task} {mode}"] = " ".join(command)
            path = cells_file(init, task, mode, args.runs)
            if not args.collect:
                command_for = functools.partial(transfer_command, init, task, mode, data=args.data, runs=args.runs)
                measure(command_for, path, labels, args.seeds, args.retrain)
            if path.is_file():
                cells += [c for c in utils.load_json(path) if str(c["labels"]) in labels and c["seed"] in args.seeds]
        if not cells:
            raise ValueError(f"no cell of the chosen rows is measured in {args.runs}/cells: run the table "
                             "without --collect first")
        pretexts = {name: " ".join(pretext_command(name, args.data, args.runs)) for name in PRETEXTS}
        utils.save_json({"cells": cells, "pretext_commands": pretexts, "transfer_commands": commands}, args.json)
        summary = summarise(cells)
        plot(summary, args.plot)
        print(markdown(summary))

    run_script("transfer_table.py", work)


if __name__ == "__main__":
    main()
