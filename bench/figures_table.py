"""The paper's question on articulated figures: does a jigsaw-pretrained U-Net learn their keypoints better?

    python -m bench.figures_table --runs runs/figures --curve       # the budgets, on held-out training figures
    python -m bench.figures_table --runs runs/figures               # the sets, the pretext runs, then every cell
    python -m bench.figures_table --runs runs/figures --collect     # the tables from the cells measured

(Run from the repository root.) The figures come from ``sample.figures``: ``TRAIN_IMAGES``
images (``--seed 0``) to pretrain and fine-tune on, ``TEST_IMAGES`` others (``--seed 1``) to
score on, written into RUNS/train and RUNS/test. The pretext runs train the original U-Net
on the training images without their labels (``train.py --data RUNS/train/images
--image-size IMAGE_SIZE``): the jigsaw at 2x2 and 4x4, the 2x2 jigsaw without its shortcut
(``--gap 2``) and the denoising control, ``transfer_table.PRETEXT_RUNS`` runs of each
(``--seed 0, 1, 2``; downstream seed ``s`` starts from run ``s % 3``). Then each row, random
weights included, is fine-tuned on ``LABELS`` labelled training figures (``transfer.py --task
keypoints``) for ``STEPS`` steps, seeds 0 to 4, and scored on every test figure by OKS AP
(COCO's evaluator) and PCK@0.1.

``--curve`` measures what the budgets rest on, never on the test figures: ``STEPS``, the U-Net
from random weights fine-tuned on ``CURVE_LABELS`` labelled figures for each of ``CURVE`` steps,
seed 0, scored on the tenth of its labelled figures it holds out (``val_ap``); and
``PRETEXT_EPOCHS``, one 2x2 jigsaw run of ``PRETEXT_CURVE_EPOCHS`` epochs, scored each epoch on the
training images it holds out (``curve_folder``: pretext run 0 of the 2x2 jigsaw itself while the two
budgets agree, so that the study does not train the same command twice).

Rows, cells files, resuming and the paired tables are the digit transfer table's
(``bench.transfer_table``): stopped in the middle, the same command goes on, continuing an
interrupted pretext run from its last epoch and measuring only the cells not yet measured.
The results go to bench/figures-transfer.json.
"""

import csv
import functools
import pathlib

import run_folder
import utils
from bench import transfer_table as tt
from bench.bench import network_flags
from bench.grids import ROOT, run
from cli import CleanArgumentParser, run_script

# The budgets share about ten hours of a 2-core CPU, measured on the slowest CPU of the project's
# machines (AMD EPYC without AVX-512): a pretext epoch of the 2x2 jigsaw costs ~35 s, a 1,000-labels
# cell ~76 s + ~1.2 s a step (its curve). Chosen on held-out training figures only (--curve):
# * PRETEXT_EPOCHS: the 2x2 jigsaw sits at chance (4 % exact) for its first 6 epochs, then learns.
#   A 30-epoch run ends at 72 % exact, 84 % pieces of held-out figures; a 20-epoch run, its
#   learning rate decayed sooner, at 31 % and 56 % (its epoch-20 score in the 30-epoch run, 63 %,
#   is no guide to it). So 30: the pretext learnt, the premise of the question. (12 runs: ~3.5 hours.)
# * STEPS: held-out AP still rises at 1,000 steps (the curve), so the most the rest allows: 300
#   (50 cells: ~6 hours).
# * IMAGE_SIZE: the smallest the study allows (48 px), for the same reason.
IMAGE_SIZE = 48
TRAIN_IMAGES, TEST_IMAGES = 4000, 500
PRETEXT_EPOCHS = 30
PRETEXT_CURVE_EPOCHS = 30  # --curve: one 2x2 jigsaw run this long, scored on held-out figures each epoch
# What the tables read from a cell besides its OKS AP: the summary's keys and the second score, PCK@0.1.
CELL_KEYS = (*tt.SUMMARY_KEYS, "pck")
# name -> train.py flags, the digit table's names (so its pairing rules apply).
PRETEXTS = {
    "jigsaw-unet-2x2": ["--grid", "2", *network_flags("unet")],
    "jigsaw-unet-4x4": ["--grid", "4", *network_flags("unet")],
    "jigsaw-unet-2x2-gap": ["--grid", "2", "--gap", "2", *network_flags("unet")],
    "denoise-unet-2x2": ["--grid", "2", "--pretext", "denoise", "--arch", "unet", "--warmup-steps", "0"],
}
ROWS = ["scratch-unet-2x2", *PRETEXTS]
LABELS = ["100", "1000"]
MODES = ["finetune"]
SEEDS = [0, 1, 2, 3, 4]
STEPS = 300  # see the budgets above
CURVE, CURVE_LABELS = [300, 400, 1000], "1000"
RESULTS_JSON = ROOT / "bench" / "figures-transfer.json"
BOX_AREA_AP = "box-area OKS AP"


def ap_name(cells):
    """The AP's name in the tables of ``cells``: ``None`` (OKS AP) or ``BOX_AREA_AP``.

    transfer.py scores OKS against the annotation file's own areas, and its cells say how many
    fields it had to fill in (``filled``). Cells without ``filled`` were scored before it did, on
    their boxes' ``w * h``: a more lenient AP, named so in every table until they are measured again.

    Raises:
        ValueError: if some cells were scored one way and some the other.
    """
    scored_on_file = {"filled" in cell for cell in cells}
    if len(scored_on_file) > 1:
        raise ValueError("the figures' cells mix APs scored on box areas with APs scored on the file's own areas: "
                         "measure the study again into a new results file (--json) and runs folder (--runs)")
    return None if scored_on_file == {True} else BOX_AREA_AP


def get_args(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="figures_table.py")
    parser.add_argument("--runs", default="runs/figures", help="the sets, pretext runs and cells files "
                                                               "(default runs/figures)")
    parser.add_argument("--json", default=str(RESULTS_JSON), help=f"results file (default {RESULTS_JSON.name})")
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS, help="downstream seeds (default 0 1 2 3 4)")
    parser.add_argument("--only", nargs="+", choices=ROWS, help="only these rows (default: all)")
    parser.add_argument("--labels", nargs="+", default=LABELS,
                        help=f"labelled figures of each cell, as transfer.py --labels (default {' '.join(LABELS)})")
    parser.add_argument("--curve", action="store_true", help="measure only the step budget's curve")
    parser.add_argument("--collect", action="store_true", help="run nothing: the tables from the cells measured")
    return parser.parse_args(argv)


def sets(runs):
    """Writes the training and test figures into RUNS/train and RUNS/test unless they are there; returns both files."""
    runs = pathlib.Path(runs)
    files = []
    for name, num, seed in (("train", TRAIN_IMAGES, 0), ("test", TEST_IMAGES, 1)):
        path = runs / name / "keypoints.json"
        if not path.is_file():
            run(["python", "-m", "sample.figures", "--out", str(path.parent), "--num", str(num), "--seed", str(seed)])
        files.append(path)
    return files


def pretext_command(name, runs, run_number=0, epochs=None, out=None):
    """The train.py command of pretext run ``run_number`` of ``name`` (``epochs`` default ``PRETEXT_EPOCHS``)."""
    seed = ["--seed", str(run_number)] if run_number else []
    return ["python", "train.py", "--data", str(pathlib.Path(runs) / "train" / "images"), "--image-size",
            str(IMAGE_SIZE), "--epochs", str(epochs or PRETEXT_EPOCHS), *PRETEXTS[name], *seed, "--out",
            str(out or tt.pretext_folder(name, runs, run_number))]


def curve_folder(runs):
    """Where the pretext curve's run lives: pretext run 0 of the 2x2 jigsaw when it is the same command."""
    if PRETEXT_CURVE_EPOCHS == PRETEXT_EPOCHS:
        return tt.pretext_folder("jigsaw-unet-2x2", runs, 0)
    return pathlib.Path(runs) / "curve-jigsaw-unet-2x2"


def pretext_curve(runs, collect):
    """The pretext budget's curve: one 2x2 jigsaw run of ``PRETEXT_CURVE_EPOCHS``, its held-out score each epoch.

    Trains it unless ``collect`` or it is trained. Returns ``[{"epoch", "val_exact", "val_pieces", "seconds"}]``
    (epochs counted from 1), read from the run's log.
    """
    folder = curve_folder(runs)
    if not collect and not (folder / run_folder.CONFIG).is_file():
        tt.train_pretext(pretext_command("jigsaw-unet-2x2", runs, epochs=PRETEXT_CURVE_EPOCHS, out=folder))
    if not (folder / run_folder.LOG).is_file():
        raise ValueError(f"the pretext curve is not trained in {folder}: run --curve without --collect first")
    with open(folder / run_folder.LOG, newline="") as log:
        return [{"epoch": int(row["epoch"]) + 1, **{key: float(row[key]) for key in ("val_exact", "val_pieces",
                                                                                    "seconds")}}
                for row in csv.DictReader(log)]


def pretext_curve_markdown(rows):
    """The pretext curve's table: every fifth epoch (and the first), scored on held-out training figures."""
    lines = ["| 2x2 jigsaw epochs | held-out exact | held-out pieces | seconds |", "|---|---|---|---|"]
    lines += [f"| {r['epoch']} | {100 * r['val_exact']:.1f} % | {100 * r['val_pieces']:.1f} % | {r['seconds']:.0f} |"
              for r in rows if r["epoch"] == 1 or r["epoch"] % 5 == 0]
    return "\n".join(lines)


def pretext_scores(runs):
    """What each pretext run learnt, on the training figures it held out: one dict per run trained."""
    scores = []
    for name in PRETEXTS:
        for number in range(tt.PRETEXT_RUNS):
            folder = tt.pretext_folder(name, runs, number)
            if not (folder / run_folder.VAL_METRICS).is_file():
                continue
            if not (folder / run_folder.CONFIG).is_file():
                raise ValueError(f"{folder} has its {run_folder.VAL_METRICS} but no {run_folder.CONFIG}: not a run "
                                 "train.py finished; delete it and run the table again")
            metrics, config = (utils.load_json(folder / f) for f in (run_folder.VAL_METRICS, run_folder.CONFIG))
            score = {"run": folder.name, "epochs": config["epochs"], "seconds": metrics["train_seconds"]}
            if config.get("pretext", "jigsaw") == "jigsaw":
                score.update(exact=metrics["hungarian"]["exact"], pieces=metrics["hungarian"]["pieces"],
                             chance=1 / config["num_pieces"])
            else:
                score.update(mse=metrics["val_loss"])
            scores.append(score)
    return scores


def pretext_markdown(scores):
    """The pretext runs' table: one row per run, its held-out score and training time."""
    lines = ["| pretext run | epochs | held-out exact | held-out pieces (chance) | held-out mse | training s |",
             "|---|---|---|---|---|---|"]
    for s in scores:
        values = ([f"{100 * s['exact']:.1f} %", f"{100 * s['pieces']:.1f} % ({100 * s['chance']:.1f} %)", ""]
                  if "pieces" in s else ["", "", f"{s['mse']:.4f}"])
        lines.append(f"| {s['run']} | {s['epochs']} | " + " | ".join(values) + f" | {s['seconds']:.0f} |")
    return "\n".join(lines)


def transfer_command(init, labels, seeds, runs, json, run=0, steps=None):
    """One transfer.py command line of row ``init`` (pretext run ``run``; ``steps`` default ``STEPS``) into ``json``."""
    runs, steps = pathlib.Path(runs), STEPS if steps is None else steps
    source = (["--scratch", "--grid", "2", "--arch", "unet", "--image-size", str(IMAGE_SIZE)] if init in tt.SCRATCH
              else ["--pretrained", str(tt.pretext_folder(init, runs, run))])
    return ["python", "transfer.py", *source, "--task", "keypoints", "--annotations",
            str(runs / "train" / "keypoints.json"), "--test-annotations", str(runs / "test" / "keypoints.json"),
            "--labels", *labels, "--mode", *MODES, "--steps", str(steps), "--seeds", *map(str, seeds),
            "--json", str(json)]


def curve(runs, collect):
    """Measures the budget's curve (``CURVE``) unless ``collect``; returns its cells and their table."""
    path = pathlib.Path(runs) / "cells" / "curve-scratch-unet-2x2-keypoints-finetune.json"
    command_for = functools.partial(transfer_command, "scratch-unet-2x2", [CURVE_LABELS], [0], runs)
    cells = tt.measure_curve(path, CURVE, command_for, collect=collect)
    return cells, curve_markdown(cells, ap_name(cells))


def curve_markdown(cells, name=None):
    """The curve's table: one row per budget, scored on the held-out tenth of the labelled training figures.

    ``name`` is the AP's (``ap_name``): ``None`` for OKS AP on the file's own areas.
    """
    lines = [f"| steps | validation {name or 'OKS AP'} | AP50 | PCK@0.1 | seconds | measured on |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {c['steps']:,} | {100 * c['val_ap']:.1f} | {100 * c['val_ap50']:.1f} | {100 * c['val_pck']:.1f} % | "
              f"{c['seconds']:.0f} | {measured_on(c)} |" for c in cells]
    return "\n".join(lines)


def measured_on(cell):
    """Where a cell was measured: its CPU, and its accelerator if it had one."""
    return f"{cell['accelerator']} (host: {cell['cpu']})" if cell.get("accelerator") else cell["cpu"]


def tables(results):
    """The study's Markdown tables from its results file: as far as it is measured, each once its part is."""
    found = []
    if results.get("curve"):
        found.append(curve_markdown(results["curve"], ap_name(results["curve"])))
    if results.get("pretext_curve"):
        found.append(pretext_curve_markdown(results["pretext_curve"]))
    if results.get("cells"):
        cells = results["cells"]
        name = ap_name(cells)
        found += tt.tables_of(tt.markdown(tt.summarise(cells), name) + "\n\n" + tt.paired(cells, score_name=name))
        # OKS AP sits near its floor with 100 labels at this budget: PCK@0.1 tells the rows apart there.
        found += tt.tables_of(tt.markdown(tt.summarise(cells, "pck"), "PCK@0.1") + "\n\n"
                              + tt.paired(cells, "pck", "PCK@0.1"))
    if results.get("pretext"):
        found.append(pretext_markdown(results["pretext"]))
    return found


def main(argv=None):
    args = get_args(argv)

    def work():
        path = pathlib.Path(args.json)
        table = utils.load_json(path) if path.is_file() else {}
        if not isinstance(table, dict):
            raise ValueError(f"{path} is not the figures table's results file (a JSON object with its cells)")
        if not args.collect:
            sets(args.runs)
        if args.curve:
            table["curve"], printed = curve(args.runs, args.collect)
            table["pretext_curve"] = pretext_curve(args.runs, args.collect)
            utils.save_json(table, path)
            print(printed + "\n\n" + pretext_curve_markdown(table["pretext_curve"]))
            return
        rows = args.only or ROWS
        labels = args.labels
        for name in PRETEXTS:
            for extra, _ in ([] if args.collect or name not in rows else tt.by_pretext_run(name, args.seeds)):
                if not (tt.pretext_folder(name, args.runs, extra["run"]) / run_folder.CONFIG).is_file():
                    tt.train_pretext(pretext_command(name, args.runs, extra["run"]))
        cells = []
        for init in rows:
            cells_path = tt.cells_file(init, "keypoints", MODES[0], args.runs)
            if not args.collect:
                cells_path.parent.mkdir(parents=True, exist_ok=True)
                tt.measure(functools.partial(transfer_command, init, runs=args.runs), cells_path, labels, args.seeds,
                           False, group=functools.partial(tt.by_pretext_run, init),
                           source=functools.partial(tt.pretext_source, init))
            if cells_path.is_file():
                cells += [{**c, "row": init} for c in tt.load_cells(cells_path, CELL_KEYS, scored=True)]
        # The pretext runs' scores are worth a table before the first cell is (they take hours).
        pretext = pretext_scores(args.runs)
        if not cells and not pretext:
            raise ValueError(f"no pretext run or cell is measured in {args.runs}: run the table without --collect "
                             "first")
        table.update(cells=cells, cpu=utils.cpu_description(), pretext=pretext,
                     pretext_commands={tt.pretext_folder(name, args.runs, r).name:
                                       " ".join(pretext_command(name, args.runs, r))
                                       for name in PRETEXTS for r in range(tt.PRETEXT_RUNS)})
        utils.save_json(table, path)
        print("\n\n".join(tables({"cells": cells, "pretext": pretext})))

    run_script("figures_table.py", work)


if __name__ == "__main__":
    main()
