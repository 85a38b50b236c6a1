"""The transfer table: does solving jigsaw puzzles teach features that help a real task?

    python -m bench.transfer_table --data path/to/mnist.npz                  # pretext runs, then every cell
    python -m bench.transfer_table --data path/to/mnist.npz --seeds 0 1 2 --tasks classify

    python -m bench.transfer_table --data path/to/mnist.npz --tasks pose --only scratch-unet-2x2 \
        jigsaw-unet-2x2 jigsaw-unet-2x2-gap denoise-unet-2x2 --labels 100     # digit pose, the U-Net
    python -m bench.transfer_table --data path/to/mnist.npz --curve           # the pose budget's curve
    python -m bench.transfer_table --collect                                 # the study's tables, refreshed

First the pretext runs (train.py): the plain piece transformer's jigsaw at 2x2, 3x3 and
4x4, the original U-Net's at 2x2 (with and without its shortcut, ``--gap``), 3x3 and 4x4,
the default piece transformer's at 2x2 (with and without its edge bias), 3x3 and 4x4, and the control
pretext (denoising) of the 2x2 networks. Each pretext is trained ``PRETEXT_RUNS`` times
(``--seed`` 0, 1, 2): downstream seed ``s`` starts from run ``s % PRETEXT_RUNS``, so a cell's
spread over seeds holds the pretext run's spread too. Then one transfer.py command per
initialisation, task and pretext run, every cell of the table in it; the scratch rows use
the same architecture with random weights. A pretext run folder, or a cell already in its
row's cells file (same labels and seed, started from the pretext run of its seed), is read,
not redone (--retrain redoes them): adding seeds runs only the new ones. Everything runs
one job at a time. The table is written as JSON (--json, default bench/transfer.json),
printed as Markdown (then each pretrained row minus random weights, the denoising control and
its other baselines, paired by seed; ``python -m bench.tables`` writes them into
docs/transfer-tables.md), and plotted (--plot, default sample/transfer.png).

The JSON names each cell's row, and a row whose cells file is missing (a fresh clone, a
runs folder lost with its machine) starts from the JSON's cells of that row. A pretext run
folder that is missing is trained again by the same command; the cells measured from its
earlier training are kept, as cells from another draw of the same pretext run.

``--curve`` measures what the pose budget (``tasks.STEPS``) rests on: the U-Net from random
weights, fine-tuned on every labelled digit for ``CURVE`` steps, seed 0, scored on the tenth of
the labelled training digits each cell holds out (never on the test digits), with what each
budget costs.
"""

import functools
import pathlib

import numpy as np

import run_folder
import tasks
import utils
from bench.bench import network_flags
from bench.grids import ROOT, run
from cli import CleanArgumentParser, run_script

# The piece transformer the table measures: pieces straight into one linear map, no attention
# bias (the default network before --piece-filters and --edge-bias existed).
TRANSFORMER = ["--piece-filters", "0", "--edge-bias", "none"]
# The default piece transformer (a small convolution per piece, the learned edge bias), and
# the same network without its edge bias: the jigsaw's border-matching shortcut made explicit.
DEFAULT = ["--piece-filters", "16", "--edge-bias", "learned"]
NO_EDGE_BIAS = ["--piece-filters", "16", "--edge-bias", "none"]
# name -> train.py flags. About ten minutes each on the 2-core CPU the table was made on.
PRETEXTS = {
    "jigsaw-transformer-2x2": ["--grid", "2", "--epochs", "4", *TRANSFORMER],
    "jigsaw-transformer-3x3": ["--grid", "3", "--epochs", "3", *TRANSFORMER],
    "jigsaw-transformer-4x4": ["--grid", "4", "--epochs", "2", *TRANSFORMER],
    "jigsaw-unet-2x2": ["--grid", "2", "--epochs", "1", *network_flags("unet")],
    "jigsaw-unet-3x3": ["--grid", "3", "--epochs", "1", *network_flags("unet")],
    "jigsaw-unet-4x4": ["--grid", "4", "--epochs", "1", *network_flags("unet")],
    # The jigsaw without its shortcut: 2 px blanked along every side of every piece, so
    # neighbours' visible parts lie 4 px apart and no border can be matched.
    "jigsaw-unet-2x2-gap": ["--grid", "2", "--epochs", "1", "--gap", "2", *network_flags("unet")],
    "denoise-transformer-2x2": ["--grid", "2", "--epochs", "4", "--pretext", "denoise", *TRANSFORMER],
    "denoise-unet-2x2": ["--grid", "2", "--epochs", "1", "--pretext", "denoise", "--arch", "unet",
                         "--warmup-steps", "0"],
    "jigsaw-transformer-2x2-default": ["--grid", "2", "--epochs", "4", *DEFAULT],
    "jigsaw-transformer-2x2-default-no-edge-bias": ["--grid", "2", "--epochs", "4", *NO_EDGE_BIAS],
    "jigsaw-transformer-3x3-default": ["--grid", "3", "--epochs", "3", *DEFAULT],
    "jigsaw-transformer-4x4-default": ["--grid", "4", "--epochs", "2", *DEFAULT],
    "denoise-transformer-2x2-default": ["--grid", "2", "--epochs", "4", "--pretext", "denoise", *DEFAULT],
}
SCRATCH = {
    "scratch-transformer-2x2": ["--scratch", "--grid", "2", *TRANSFORMER],
    "scratch-transformer-3x3": ["--scratch", "--grid", "3", *TRANSFORMER],
    "scratch-transformer-4x4": ["--scratch", "--grid", "4", *TRANSFORMER],
    "scratch-unet-2x2": ["--scratch", "--grid", "2", "--arch", "unet"],
    "scratch-transformer-2x2-default": ["--scratch", "--grid", "2", *DEFAULT],
    "scratch-transformer-2x2-default-no-edge-bias": ["--scratch", "--grid", "2", *NO_EDGE_BIAS],
    # The transformer's body depends on the grid (its pieces' size and number), so each grid of
    # its jigsaw has random weights of its own to beat.
    "scratch-transformer-3x3-default": ["--scratch", "--grid", "3", *DEFAULT],
    "scratch-transformer-4x4-default": ["--scratch", "--grid", "4", *DEFAULT],
}
INITS = [*SCRATCH, *PRETEXTS]
PRETEXT_RUNS = 3  # runs of each pretext (--seed 0, 1, 2); downstream seed s starts from run s % 3
# The initialisations of the classification table: the plain transformer and the 2x2 U-Net.
CLASSIFY = [*(f"{kind}-transformer-{grid}" for kind in ("scratch", "jigsaw") for grid in ("2x2", "3x3", "4x4")),
            "denoise-transformer-2x2", "scratch-unet-2x2", "denoise-unet-2x2", "jigsaw-unet-2x2", "jigsaw-unet-2x2-gap"]
# Digit pose, the paper's setting: a heatmap network pretrained on the very digits it then
# learns keypoints on. The U-Net (fully convolutional, as the paper's networks are; its
# random weights are the baseline at every grid, since its body does not depend on the
# grid; at 3x3 it sees the digits padded to 30 px), and the default piece transformer at each
# grid from random weights of that grid and from its jigsaw, at 2x2 also without its edge bias.
POSE = ["scratch-unet-2x2", "denoise-unet-2x2", "jigsaw-unet-2x2", "jigsaw-unet-2x2-gap", "jigsaw-unet-3x3",
        "jigsaw-unet-4x4", *[name for name in INITS if "default" in name]]
# (task, mode) -> (labels, initialisations). Centres only for the two plain 2x2 networks
# (a canvas is six times the pixels of a digit).
CELLS = {
    ("classify", "linear"): (["100", "1000", "all"], CLASSIFY),
    ("classify", "finetune"): (["100", "1000", "all"], CLASSIFY),
    ("centres", "linear"): (["100", "1000"], [name for name in CLASSIFY if name.endswith("2x2")]),
    ("centres", "finetune"): (["100", "1000"], [name for name in CLASSIFY if name.endswith("2x2")]),
    ("pose", "linear"): (["100", "1000", "all"], POSE),
    ("pose", "finetune"): (["100", "1000", "all"], POSE),
}
TASKS = ["classify", "centres", "pose"]
TABLE_ORDER = [*TASKS, "keypoints"]  # the tables' order of tasks: the digit tasks, then COCO keypoints (figures_table)
CURVE = [300, 1000, 3000, 10000]  # --curve: the pose budget's steps
# Each task's score in the tables.
HEADLINE = {"classify": "accuracy", "pose": "f1", "centres": "found", "keypoints": "ap"}
MODES = ["linear", "finetune"]


def get_args(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="transfer_table.py")
    parser.add_argument("--data", default="sample", help="MNIST source as for train.py (default: the bundled sample)")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS, help="tasks to run (default: all three)")
    parser.add_argument("--modes", nargs="+", default=MODES, choices=MODES, help="modes to run (default: both)")
    parser.add_argument("--only", nargs="+", choices=INITS, help="only these initialisations (default: all)")
    parser.add_argument("--labels", nargs="+", help="only these --labels values (default: each cell's, above)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="seeds of every cell (default 0 1 2 3 4)")
    parser.add_argument("--runs", default="runs/transfer", help="folder of the pretext runs and the cells' files "
                                                                "(default runs/transfer)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "transfer.json"),
                        help="results file (default bench/transfer.json); it keeps the cells a run did "
                             "not choose, while the tables printed and the plot show the chosen ones")
    parser.add_argument("--plot", default=str(ROOT / "sample" / "transfer.png"),
                        help="plot of accuracy against labels (default sample/transfer.png)")
    parser.add_argument("--retrain", action="store_true", help="redo pretext runs and cells that exist")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing: make the table, the JSON and the plot from the cells already measured "
                             "(the commands the JSON holds are kept)")
    parser.add_argument("--curve", action="store_true",
                        help=f"measure only the pose budget's curve: the random-init U-Net fine-tuned on every "
                             f"labelled digit for {', '.join(map(str, CURVE))} steps, seed 0")
    return parser.parse_args(argv)


def pretext_folder(name, runs, run=0):
    """Pretext run ``run`` of ``name``: ``runs/name`` for run 0, ``runs/name-seed<run>`` for the others."""
    return pathlib.Path(runs) / (name if run == 0 else f"{name}-seed{run}")


def pretext_command(name, data, runs, run=0):
    seed = ["--seed", str(run)] if run else []
    return ["python", "train.py", "--data", data, *PRETEXTS[name], *seed, "--out", str(pretext_folder(name, runs, run))]


def train_pretext(command):
    """Runs a pretext run's train.py ``command`` (quiet): continues it if it was interrupted, else trains it anew.

    A study of many pretext runs takes hours and may be stopped in the middle of one: its next
    call goes on from the last epoch (``--resume``) rather than stopping at the interrupted run.
    """
    out = pathlib.Path(command[command.index("--out") + 1])
    run([*command, "--quiet", "--resume" if run_folder.interrupted(out) else "--overwrite"])


def transfer_command(init, task, mode, labels, seeds, data, runs, json=None, run=0, steps=None):
    """One transfer.py command line; it writes ``json`` (default: the cells file of the row).

    ``run`` is the pretext run a pretrained row starts from; ``steps`` default to the task's
    (``tasks.STEPS``), spelled out so that a stored command says what it ran.
    """
    source = SCRATCH[init] if init in SCRATCH else ["--pretrained", str(pretext_folder(init, runs, run))]
    json = cells_file(init, task, mode, runs) if json is None else json
    steps = tasks.STEPS[task] if steps is None else steps
    return ["python", "transfer.py", *source, "--data", data, "--task", task, "--labels", *labels, "--mode", mode,
            "--steps", str(steps), "--seeds", *map(str, seeds), "--json", str(json)]


def pretext_run(init, seed):
    """The pretext run downstream seed ``seed`` of ``init`` starts from (0 from scratch)."""
    return 0 if init in SCRATCH else seed % PRETEXT_RUNS


def by_pretext_run(init, seeds):
    """``[({"run": run}, seeds)]``: the pretext run each downstream seed starts from (run 0 from scratch)."""
    runs = {}
    for seed in seeds:
        runs.setdefault(pretext_run(init, seed), []).append(seed)
    return [({"run": run}, chosen) for run, chosen in sorted(runs.items())]


def pretext_source(init, seed):
    """The folder name a cell of ``init`` and ``seed`` must have started from; None from scratch."""
    return None if init in SCRATCH else pretext_folder(init, ".", pretext_run(init, seed)).name


def cells_file(init, task, mode, runs):
    return pathlib.Path(runs) / "cells" / f"{init}-{task}-{mode}.json"


# What each part of the table reads from a cell: a cells file to know what is measured, the
# results file to restore a row, the summary to make the tables (and each task's HEADLINE
# score), the curve's file to know which budgets are measured and then its table.
MEASURED_KEYS = ("labels", "seed")
RESTORED_KEYS = ("task", "mode", "labels", "seed")
SUMMARY_KEYS = ("init", "task", "mode", "labels", "seed", "seconds")
CURVE_MEASURED_KEYS = ("steps",)
# The curve is scored on each cell's held-out tenth of the labelled (training) digits: the test
# digits play no part in the budget.
CURVE_KEYS = ("steps", "val_f1", "val_f1_1px", "val_precision", "val_recall", "seconds", "cpu")


def checked_cells(cells, path, keys, scored=False):
    """``cells`` read from ``path``, after checking each is a dict with ``keys`` (and, if ``scored``, its task's score).

    Raises:
        ValueError: naming the file and the first cell that is not what transfer.py writes.
    """
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise ValueError(f"{path}: its cells are not a list of JSON objects, one per cell as transfer.py writes")
    for number, cell in enumerate(cells):
        if cell.get("task") == "keypoints" and "found" in cell:  # written before COCO keypoints took the name
            cell["task"] = "centres"
        lacking = [key for key in keys if key not in cell]
        if scored and not lacking:
            if cell["task"] not in HEADLINE:
                raise ValueError(f"{path}: cell {number} has an unknown task {cell['task']!r} "
                                 f"(known: {', '.join(HEADLINE)})")
            lacking = [HEADLINE[cell["task"]]] if HEADLINE[cell["task"]] not in cell else []
        if lacking:
            raise ValueError(f"{path}: cell {number} lacks {', '.join(lacking)}, which a transfer.py cell has")
    return cells


def load_cells(path, keys=MEASURED_KEYS, scored=False):
    """The cells of a cells file, checked as ``checked_cells`` does."""
    return checked_cells(utils.load_json(path), path, keys, scored)


def cell_key(cell):
    """What makes a cell one cell of the table: its row, task, mode, labels and seed."""
    return cell.get("row"), cell["task"], cell["mode"], str(cell["labels"]), cell["seed"]


def missing(cells, labels, seeds, source=None):
    """The cells still to measure, as transfer.py runs: ``[(labels, seeds)]``, seeds that miss the same labels together.

    Args:
        cells: the cells already measured (a cells file's list of dicts).
        labels: the ``--labels`` values the table wants.
        seeds: the seeds it wants.
        source: ``source(seed)``, the pretext run folder's name a cell of that seed must have
            started from (its ``pretrained``), or None for any. A cell from another pretext run
            (one measured before each pretext had several runs names none) is measured again.
    """
    def current(cell):
        wanted = source(cell["seed"]) if source else None
        return wanted is None or pathlib.Path(cell.get("pretrained") or "").name == wanted

    measured = {(str(cell["labels"]), cell["seed"]) for cell in cells if current(cell)}
    runs = {}
    for seed in seeds:
        wanted = tuple(value for value in labels if (value, seed) not in measured)
        if wanted:
            runs.setdefault(wanted, []).append(seed)
    return [(list(wanted), chosen) for wanted, chosen in runs.items()]


def measure(command_for, path, labels, seeds, retrain, group=None, source=None):
    """Runs transfer.py for every cell of ``path`` not yet measured and merges what it measured into ``path``.

    ``command_for(labels, seeds, json=path, **extra)`` is the transfer.py command line;
    ``group(seeds)`` splits the seeds into ``[(extra, seeds)]``, one command each (by default
    one command for all, no extra); ``source`` is as for ``missing``. Each run writes its own
    file, ``path``'s stem plus ``.part.json``, cell by cell (transfer.py rewrites it after each);
    it is merged into the cells file once the run ends, and a part file left by a stopped run is
    merged before anything is measured, so a stopped run loses only the cell it was measuring.
    """
    group = group or (lambda chosen: [({}, chosen)])
    part = path.with_name(path.stem + ".part.json")
    done = load_cells(path) if path.is_file() else []
    if part.is_file():
        done = merge_part(done, part, path)
    todo = [(chosen_labels, run_seeds, extra)
            for chosen_labels, chosen_seeds in missing([] if retrain else done, labels, seeds, source)
            for extra, run_seeds in group(chosen_seeds)]
    for chosen_labels, chosen_seeds, extra in todo:
        run(command_for(chosen_labels, chosen_seeds, json=part, **extra))
        done = merge_part(done, part, path)


def merge_part(done, part, path):
    """``done`` with the cells of the part file ``part`` in place of those of the same labels and seed,
    saved to the cells file ``path``; the part file is removed once they are saved. Returns the merged cells."""
    fresh = load_cells(part)
    keys = {(str(cell["labels"]), cell["seed"]) for cell in fresh}  # a cells file holds one task and mode
    done = [c for c in done if (str(c["labels"]), c["seed"]) not in keys] + fresh
    utils.save_json(done, path)
    part.unlink()
    return done


def planned(args):
    """The transfer.py commands to run: ``[(init, task, mode, labels)]``."""
    plan = []
    for (task, mode), (labels, inits) in CELLS.items():
        if task in args.tasks and mode in args.modes:
            chosen = [value for value in labels if not args.labels or value in args.labels]
            plan += [(init, task, mode, chosen) for init in inits if chosen and (not args.only or init in args.only)]
    return plan


def summarise(cells, score=None):
    """``{(task, labels, mode, init): (mean, std, n, seconds, runs)}`` of the headline score over seeds.

    ``score`` names another of the cells' scores to summarise (``"pck"``) in place of each task's headline.

    ``std`` is the sample standard deviation (n - 1).

    ``runs`` counts the pretext runs the cells started from (1 from scratch, and for cells
    measured before each pretext had several runs: they name none).
    """
    groups = {}
    for cell in cells:
        key = (cell["task"], str(cell["labels"]), cell["mode"], cell["init"])
        groups.setdefault(key, []).append((cell[score or HEADLINE[cell["task"]]], cell["seconds"],
                                           cell.get("pretrained")))
    # The sample standard deviation (divided by n - 1), the convention readers assume; 0 for one seed.
    return {key: (float(np.mean([s for s, _, _ in v])), float(np.std([s for s, _, _ in v], ddof=min(1, len(v) - 1))),
                  len(v),
                  float(np.mean([t for _, t, _ in v])), len({run for _, _, run in v})) for key, v in groups.items()}


def markdown(summary, score_name=None):
    """One Markdown table per task: a row per initialisation, a column per (labels, mode).

    ``score_name`` ("PCK@0.1") follows the task in the header row when the summary is not of the headline score.
    """
    seeds = max(value[2] for value in summary.values())
    tables = []
    for task in sorted({key[0] for key in summary}, key=TABLE_ORDER.index):
        inits = sorted({key[3] for key in summary if key[0] == task}, key=init_order)
        columns = sorted({key[1:3] for key in summary if key[0] == task}, key=column_order)
        lines = [f"| {titled(task, score_name)}: initialisation | " + " | ".join(f"{n} {m}" for n, m in columns) + " |",
                 "|---|" + "---|" * len(columns)]
        for init in inits:
            cells = []
            for column in columns:
                value = summary.get((task, *column, init))
                if value is None:
                    cells.append("")
                elif value[2] == 1:  # one seed: no spread to show
                    cells.append(f"{100 * value[0]:.1f} (1 seed)")
                else:  # a cell measured on fewer seeds or pretext runs than it should says how many
                    notes = [f"{value[2]} seeds"] if value[2] < seeds else []
                    if not init.startswith("scratch") and value[4] < min(PRETEXT_RUNS, value[2]):
                        notes.append(f"{value[4]} pretext run{'s' * (value[4] > 1)}")
                    fewer = f" ({', '.join(notes)})" if notes else ""
                    cells.append(f"{100 * value[0]:.1f} ± {100 * value[1]:.1f}{fewer}")
            lines.append(f"| {init} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def baselines(row):
    """``{against: row}``: the rows a pretrained ``row`` is paired with, seed by seed.

    Random weights of its network (of its own grid where the body depends on the grid, as the
    piece transformer's does; the U-Net's does not), the denoising control of its network, for a
    jigsaw without its shortcut the jigsaw with it, and for a harder jigsaw the 2x2 one.
    """
    kind, arch, grid, *suffix = row.split("-", 3)
    suffix = f"-{suffix[0]}" if suffix else ""
    flavour = "-default" if suffix.startswith("-default") else ""
    jigsaw = kind == "jigsaw"
    candidates = {
        "random weights": [f"scratch-{arch}-{grid}{suffix}", f"scratch-{arch}-{grid}{flavour}",
                           f"scratch-{arch}-2x2{flavour}"],
        "denoising": [f"denoise-{arch}-2x2{flavour}"] if jigsaw else [],
        "the jigsaw with its shortcut": [row.removesuffix("-gap").removesuffix("-no-edge-bias")],
        "the 2x2 jigsaw": [f"jigsaw-{arch}-2x2{flavour}"] if jigsaw and grid != "2x2" else [],
    }
    found = {against: [name for name in names if name in INITS and name != row]
             for against, names in candidates.items()}
    return {against: names[0] for against, names in found.items() if names}


def paired(cells, score=None, score_name=None):
    """One Markdown table per task: each pretrained row minus the rows ``baselines`` names, seed by seed.

    Args:
        cells: transfer.py cells, each with its ``row`` (a name in ``INITS``).
        score, score_name: as for ``summarise`` and ``markdown``: another score than the headline.

    Returns:
        The tables; a cell reads "+2.5 (4/5: -1.0..+6.0)": the mean difference of the score in
        points, at how many of the seeds both rows have the row is above, and the smallest and largest
        difference. "" when no two rows share a seed.
    """
    scores = {(c["task"], str(c["labels"]), c["mode"], c["row"], c["seed"]): 100 * c[score or HEADLINE[c["task"]]]
              for c in cells}
    names = {c["row"]: c["init"] for c in cells}
    tables = []
    for task in sorted({key[0] for key in scores}, key=TABLE_ORDER.index):
        columns = sorted({key[1:3] for key in scores if key[0] == task}, key=column_order)
        lines = []
        rows = {key[3] for key in scores if key[0] == task and key[3] not in SCRATCH}
        for row in sorted(rows, key=lambda r: init_order(names[r])):
            for against, baseline in baselines(row).items():
                values = []
                for labels, mode in columns:
                    seeds = sorted({key[4] for key in scores if key[:4] == (task, labels, mode, row)})
                    diffs = [scores[(task, labels, mode, row, seed)] - scores[(task, labels, mode, baseline, seed)]
                             for seed in seeds if (task, labels, mode, baseline, seed) in scores]
                    values.append(f"{np.mean(diffs):+.1f} ({sum(d > 0 for d in diffs)}/{len(diffs)}: "
                                  f"{min(diffs):+.1f}..{max(diffs):+.1f})" if diffs else "")
                if any(values):
                    lines.append(f"| {names[row]} | {against} | " + " | ".join(values) + " |")
        if lines:
            tables.append("\n".join([f"| {titled(task, score_name)}, paired by seed: initialisation | minus | "
                                     + " | ".join(f"{n} {m}" for n, m in columns) + " |",
                                     "|---|---|" + "---|" * len(columns), *lines]))
    return "\n\n".join(tables)


def titled(task, score_name=None):
    """A table's title in its header row: the task, and the score where it is not the task's headline."""
    return f"{task}, {score_name}" if score_name else task


def init_order(init):
    """Table order of a cell's ``init`` (``transfer.init_name``: "jigsaw 2x2 unet gap 2", "scratch 2x2 transformer
    piece-filters 16 edge-bias learned"): network, grid, then scratch, control, jigsaw, and each with its
    shortcut before it without (no edge bias, a gap)."""
    kind, grid, arch, *flags = init.split(" ")
    flags = dict(zip(flags[::2], flags[1::2], strict=True))
    network = (arch != "transformer", "piece-filters" in flags)
    without_shortcut = ("piece-filters" in flags and "edge-bias" not in flags, "gap" in flags)
    return (*network, grid, ["scratch", "denoise", "jigsaw"].index(kind), *without_shortcut)


def label_order(labels):
    return float("inf") if labels == "all" else int(labels)


def column_order(column):
    """Table order of a ``(labels, mode)`` column: by labels, then frozen before fine-tuned."""
    return label_order(column[0]), MODES.index(column[1])


def panel_of(init):
    """The figure's panel an initialisation belongs to: ``(network, variant)``.

    The variant is "2x2", "harder grids" (a 3x3 or 4x4 jigsaw, or random weights of that grid) or
    "without the shortcut" (``--gap``, or the default network without its edge bias).
    """
    kind, grid, arch, *flags = init.split(" ")
    flags = dict(zip(flags[::2], flags[1::2], strict=True))
    network = "U-Net" if arch == "unet" else "default piece transformer" if "piece-filters" in flags \
        else "plain piece transformer"
    if "gap" in flags or ("piece-filters" in flags and "edge-bias" not in flags):
        return network, "without the shortcut"
    return network, "2x2" if grid == "2x2" else "harder grids"


def panels(inits):
    """The figure's panels for a task's rows, in table order: ``[(title, [init, ...])]``.

    Each panel holds a few lines: a network's 2x2 rows, its harder grids, or its rows without the
    shortcut. A panel without the shortcut also draws the jigsaw with it, and the U-Net's harder
    grids its 2x2 random weights and jigsaw (its body does not depend on the grid): the rows each
    is paired with in the tables.
    """
    grouped = {}
    for init in sorted(inits, key=init_order):
        grouped.setdefault(panel_of(init), []).append(init)
    result = []
    for (network, variant), own in grouped.items():
        arch = "unet" if network == "U-Net" else "transformer"
        references = []
        if variant == "without the shortcut":
            references = [init for init in inits if panel_of(init) == (network, "2x2") and init.startswith("jigsaw")]
        elif variant == "harder grids" and arch == "unet":
            references = [f"scratch 2x2 {arch}", f"jigsaw 2x2 {arch}"]
        rows = sorted({*own, *(init for init in references if init in inits)}, key=init_order)
        result.append((f"{network}, {variant}", rows))
    return result


def plot(summary, path):
    """Every row of the tables against the number of labels: a row of panels per task and group of rows
    (``panels``), frozen and fine-tuned side by side, each row of the tables one colour throughout."""
    import matplotlib.pyplot as plt

    tasks = sorted({key[0] for key in summary}, key=TABLE_ORDER.index)
    figure_rows = [(task, title, inits) for task in tasks
                   for title, inits in panels({key[3] for key in summary if key[0] == task})]
    fig, axes = plt.subplots(len(figure_rows), len(MODES), figsize=(11, 3 * len(figure_rows)), squeeze=False)
    # One colour per row of the tables, the same in every panel, from a palette of 20 (tab20 pairs each
    # hue dark then light; the dark ten first, so that neighbours differ).
    tab20 = plt.get_cmap("tab20").colors
    palette = tab20[::2] + tab20[1::2]
    everyone = sorted({key[3] for key in summary}, key=init_order)
    colours = {init: palette[i % len(palette)] for i, init in enumerate(everyone)}
    for row, (task, title, inits) in enumerate(figure_rows):
        handles, legend_ax = {}, None  # each line (either panel's) and the right-most panel with lines
        for col, mode in enumerate(MODES):
            ax = axes[row, col]
            for init in inits:
                points = sorted(((label_order(k[1]), v) for k, v in summary.items() if k[0] == task and k[2] == mode
                                 and k[3] == init), key=lambda p: p[0])
                xs = [60000 if x == float("inf") else x for x, _ in points]
                if xs:
                    handles[init] = ax.errorbar(xs, [100 * v[0] for _, v in points],
                                                yerr=[100 * v[1] for _, v in points], marker="o", capsize=3,
                                                label=init, color=colours[init],
                                                linestyle="--" if "scratch" in init else "-")
                    legend_ax = ax
            ax.set_xscale("log")
            ax.set_xlabel("labelled canvases" if task == "centres" else "labelled digits")
            ax.set_ylabel({"classify": "test accuracy (%)", "centres": "test digits found (%)",
                           "pose": "test keypoint F1, 2 px (%)"}[task])
            ax.set_title(f"{task}, {title}, {'frozen' if mode == 'linear' else 'fine-tuned'}", fontsize=8)
            ax.grid(alpha=0.3)
        # One legend per row of panels, beside its right-most panel with lines; it names every line of the
        # row, also those measured in one mode only, in the table's order.
        if legend_ax is not None:
            legend_ax.legend([handles[init] for init in inits if init in handles],
                             [init for init in inits if init in handles], fontsize=7, loc="upper left",
                             bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.tight_layout()
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png", bbox_inches="tight")  # the legends stand outside the panels
    plt.close(fig)


# The README's answer: the U-Net's digit pose (the paper's setting) from random weights, the
# denoising control and the 2x2 jigsaw, with and without its shortcut (the figure only).
ANSWER = {"scratch-unet-2x2": "random weights", "denoise-unet-2x2": "denoising", "jigsaw-unet-2x2": "jigsaw 2x2",
          "jigsaw-unet-2x2-gap": "jigsaw 2x2 without its shortcut"}
ANSWER_LABELS = ["100", "1000", "all"]


def answer_scores(cells, row, mode):
    """``{labels: [scores by seed]}`` of one row's digit pose F1 (%), for the README's answer."""
    scores = {}
    for cell in sorted(cells, key=lambda c: c["seed"]):
        if cell.get("row") == row and cell["task"] == "pose" and cell["mode"] == mode:
            scores.setdefault(str(cell["labels"]), []).append(100 * cell["f1"])
    return scores


def answer_markdown(cells):
    """The README's table: the U-Net's digit pose fine-tuned, mean ± sample std over seeds, per number of labels."""
    lines = ["| U-Net digit pose, F1 within 2 px (%), fine-tuned | " +
             " | ".join(f"{'all' if n == 'all' else f'{int(n):,}'} labels" for n in ANSWER_LABELS) + " |",
             "|---|" + "---|" * len(ANSWER_LABELS)]
    for row, name in list(ANSWER.items())[:3]:
        scores = answer_scores(cells, row, "finetune")
        lines.append(f"| {name} | " + " | ".join(
            f"{np.mean(scores[n]):.1f} ± {np.std(scores[n], ddof=1):.1f} ({len(scores[n])} seeds)"
            for n in ANSWER_LABELS) + " |")
    return "\n".join(lines)


def answer_plot(cells, path):
    """The README's figure: digit pose F1 against labels, frozen and fine-tuned, four lines a panel."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, mode in zip(axes, ("finetune", "linear"), strict=True):
        for row, name in ANSWER.items():
            scores = answer_scores(cells, row, mode)
            xs = [60000 if n == "all" else int(n) for n in ANSWER_LABELS]
            ax.errorbar(xs, [np.mean(scores[n]) for n in ANSWER_LABELS],
                        yerr=[np.std(scores[n], ddof=1) for n in ANSWER_LABELS], marker="o", capsize=3, label=name,
                        linestyle="--" if row.startswith("scratch") else "-")
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:,}" if n != "all" else f"all ({x:,})" for x, n in zip(xs, ANSWER_LABELS, strict=True)])
        ax.minorticks_off()
        ax.set_xlabel("labelled digits")
        ax.set_title({"finetune": "fine-tuned (every weight)", "linear": "frozen body (a linear probe)"}[mode])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test keypoint F1 within 2 px (%)")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return fig


def network_of(init):
    """The network a cell's ``init`` trained, as the tables name it."""
    if init.endswith(" unet") or " unet " in init:
        return "U-Net"
    return "default piece transformer" if "piece-filters 16" in init else "plain piece transformer"


def cost_markdown(cells):
    """What a cell costs: the fewest to most seconds of each task, network and labels, by mode, per CPU."""
    groups = {}
    for cell in cells:
        labels = "all" if str(cell["labels"]) == "all" else "100 and 1,000"
        key = (TASKS.index(cell["task"]), cell["task"], network_of(cell["init"]), labels,
               cell.get("cpu", "not recorded"))
        groups.setdefault(key, {}).setdefault(cell["mode"], []).append(cell["seconds"])
    lines = ["| task | network | labels | CPU | frozen (`linear`), s | fine-tuned, s |", "|---|---|---|---|---|---|"]
    for key in sorted(groups):
        spans = [f"{min(groups[key][mode]):.0f} to {max(groups[key][mode]):.0f}" if mode in groups[key] else ""
                 for mode in MODES]
        lines.append("| " + " | ".join(key[1:]) + " | " + " | ".join(spans) + " |")
    return "\n".join(lines)


def tables_of(text):
    """The Markdown tables of ``text`` that are the table's own (header rows name an initialisation column)."""
    return [block.strip() for block in text.split("\n\n") if block.startswith("| ") and ": initialisation |" in block]


def curve(args):
    """Measures the pose budget's curve (``CURVE``); returns its cells and the Markdown table of them."""
    init, task, mode = "scratch-unet-2x2", "pose", "finetune"
    path = pathlib.Path(args.runs) / "cells" / f"curve-{init}-{task}-{mode}.json"
    command_for = functools.partial(transfer_command, init, task, mode, ["all"], [0], args.data, args.runs)
    cells = checked_cells(measure_curve(path, CURVE, command_for, args.retrain, args.collect), path, CURVE_KEYS)
    return cells, curve_markdown(cells)


def measure_curve(path, budgets, command_for, retrain=False, collect=False):
    """Measures each step budget of a curve not yet in the cells file ``path``; returns the cells of ``budgets``.

    ``command_for(json=PART, steps=STEPS)`` is the transfer.py command of one budget's cell; each
    cell is merged into ``path`` as soon as it is measured, so a stopped curve keeps what it has.
    ``collect`` measures nothing; ``retrain`` measures every budget again.

    Raises:
        ValueError: no cell of ``budgets`` is measured in ``path``, or one is not what transfer.py writes.
    """
    # Read once: the loop itself rewrites the file after each budget it measures.
    done = load_cells(path, CURVE_MEASURED_KEYS) if path.is_file() else []
    for steps in [] if collect else budgets:
        if any(cell["steps"] == steps for cell in done) and not retrain:
            continue
        part = path.with_name(path.stem + ".part.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        run(command_for(json=part, steps=steps))
        done = [cell for cell in done if cell["steps"] != steps] + load_cells(part, CURVE_MEASURED_KEYS)
        utils.save_json(sorted(done, key=lambda cell: cell["steps"]), path)
        part.unlink()
    cells = [cell for cell in done if cell["steps"] in budgets]  # a budget no longer in the curve is not shown
    if not cells:
        raise ValueError(f"no cell of the curve is measured in {path}: run --curve without --collect first")
    return cells


def curve_markdown(cells):
    """The curve's table: one row per budget, scored on the held-out tenth of the labelled digits."""
    lines = ["| steps | validation F1 within 2 px | within 1 px | precision | recall | seconds | CPU |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {c['steps']:,} | {100 * c['val_f1']:.1f} % | {100 * c['val_f1_1px']:.1f} % | "
              f"{100 * c['val_precision']:.1f} % | {100 * c['val_recall']:.1f} % | {c['seconds']:.0f} | {c['cpu']} |"
              for c in cells]
    return "\n".join(lines)


def main(argv=None):
    args = get_args(argv)

    def work():
        path = pathlib.Path(args.json)
        table = utils.load_json(path) if path.is_file() else {}
        if not isinstance(table, dict):
            raise ValueError(f"{path} is not a transfer table's results file (a JSON object with its cells)")
        checked_cells(table.get("cells", []), path, RESTORED_KEYS)
        for key in ("pretext_commands", "transfer_commands"):
            stored = table.get(key, {})
            if not isinstance(stored, dict) or not all(isinstance(line, str) for line in stored.values()):
                raise ValueError(f"{path}: its {key} are not a JSON object of command lines by name, "
                                 "as the table writes")
        if args.curve:
            table["curve"], markdown_curve = curve(args)
            utils.save_json(table, path)
            print(markdown_curve)
            return
        plan = planned(args)
        for name in PRETEXTS:
            if args.collect or not any(init == name for init, *_ in plan):
                continue
            for pretext_run, _ in by_pretext_run(name, args.seeds):
                run_number = pretext_run["run"]
                missing = not (pretext_folder(name, args.runs, run_number) / run_folder.CONFIG).is_file()
                if args.retrain or missing:
                    train_pretext(pretext_command(name, args.data, args.runs, run_number))
        cells, commands = [], {}
        for init, task, mode, labels in plan:
            for extra, seeds in by_pretext_run(init, args.seeds):
                command = transfer_command(init, task, mode, labels, seeds, args.data, args.runs, **extra)
                commands[f"{init} {task} {mode} seeds {' '.join(map(str, seeds))}"] = " ".join(command)
            cells_path = cells_file(init, task, mode, args.runs)
            if not cells_path.is_file():
                # The results file names each cell's row: a fresh clone, or a runs folder lost with its
                # machine, resumes from the cells it holds instead of measuring them all again.
                recorded = [c for c in table.get("cells", []) if cell_key(c)[:3] == (init, task, mode)]
                if recorded:
                    utils.save_json(recorded, cells_path)
            if not args.collect:
                command_for = functools.partial(transfer_command, init, task, mode, data=args.data, runs=args.runs)
                measure(command_for, cells_path, labels, args.seeds, args.retrain,
                        group=functools.partial(by_pretext_run, init), source=functools.partial(pretext_source, init))
            if cells_path.is_file():
                cells += [{**c, "row": init} for c in load_cells(cells_path, SUMMARY_KEYS, scored=True)
                          if str(c["labels"]) in labels and c["seed"] in args.seeds]
        if not cells:
            raise ValueError(f"no cell of the chosen rows is measured in {args.runs}/cells: run the table "
                             "without --collect first")
        pretexts = {pretext_folder(name, args.runs, run_number).name:
                    " ".join(pretext_command(name, args.data, args.runs, run_number))
                    for name in PRETEXTS for run_number in range(PRETEXT_RUNS)}
        if args.collect:
            # Collecting runs nothing, so the commands that made the cells stay as stored: its --data
            # and --runs (by default the bundled sample) made none of them.
            pretexts.update(table.get("pretext_commands", {}))
            commands.update(table.get("transfer_commands", {}))
        # The results file keeps the cells of rows, labels and seeds this run did not choose (a cell
        # that names no row predates rows: its cells file holds it, and it comes back with its row).
        chosen = {cell_key(cell) for cell in cells}
        kept = [cell for cell in table.get("cells", []) if cell.get("row") and cell_key(cell) not in chosen]
        table.update(cells=kept + cells, pretext_commands=pretexts,
                     transfer_commands={**table.get("transfer_commands", {}), **commands})
        summary = summarise(cells)
        printed = markdown(summary) + (f"\n\n{pairs}" if (pairs := paired(cells)) else "")
        utils.save_json(table, path)
        plot(summary, args.plot)
        print(printed)

    run_script("transfer_table.py", work)


if __name__ == "__main__":
    main()
