"""The paper's question on articulated figures: does a jigsaw-pretrained U-Net learn their keypoints better?

    python -m bench.figures_table --runs runs/figures --curve       # the step budget, on held-out training figures
    python -m bench.figures_table --runs runs/figures               # the sets, the pretext runs, then every cell
    python -m bench.figures_table --runs runs/figures --collect     # the tables from the cells measured

(Run from the repository root.) The figures come from ``bench.figures``: ``TRAIN_IMAGES``
images (``--seed 0``) to pretrain and fine-tune on, ``TEST_IMAGES`` others (``--seed 1``) to
score on, written into RUNS/train and RUNS/test. The pretext runs train the original U-Net
on the training images without their labels (``train.py --data RUNS/train/images
--image-size IMAGE_SIZE``): the jigsaw at 2x2 and 4x4, the 2x2 jigsaw without its shortcut
(``--gap 2``) and the denoising control, ``transfer_table.PRETEXT_RUNS`` runs of each
(``--seed 0, 1, 2``; downstream seed ``s`` starts from run ``s % 3``). Then each row, random
weights included, is fine-tuned on ``LABELS`` labelled training figures (``transfer.py --task
keypoints``) for ``STEPS`` steps, seeds 0 to 4, and scored on every test figure by OKS AP
(COCO's evaluator) and PCK@0.1.

``--curve`` measures what ``STEPS`` rests on: the U-Net from random weights fine-tuned on
``CURVE_LABELS`` labelled figures for each of ``CURVE`` steps, seed 0, scored on the tenth of
its labelled figures it holds out (``val_ap``), never on the test figures.

Rows, cells files, resuming and the paired tables are the digit transfer table's
(``bench.transfer_table``); the results go to bench/figures-transfer.json.
"""

import functools
import pathlib

import run_folder
import utils
from bench import transfer_table as tt
from bench.bench import network_flags
from bench.grids import ROOT, run
from cli import CleanArgumentParser, run_script

# px: the pretext images and the keypoint crops. The smallest size the study allows, to bring the
# whole table (12 pretext runs, 50 cells) near ten hours of a 2-core CPU; whether it fits depends
# on STEPS (a 1,000-step cell took 1,278 s on a 2-core AMD EPYC without AVX-512).
IMAGE_SIZE = 48
TRAIN_IMAGES, TEST_IMAGES = 4000, 500
PRETEXT_EPOCHS = 5
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
STEPS = 1000  # a first guess until --curve is measured: see the module docstring
CURVE, CURVE_LABELS = [300, 1000, 3000], "1000"
CURVE_KEYS = ("steps", "val_ap", "val_ap50", "val_pck", "seconds", "cpu")
RESULTS_JSON = ROOT / "bench" / "figures-transfer.json"


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
            run(["python", "-m", "bench.figures", "--out", str(path.parent), "--num", str(num), "--seed", str(seed)])
        files.append(path)
    return files


def pretext_command(name, runs, run_number=0):
    seed = ["--seed", str(run_number)] if run_number else []
    return ["python", "train.py", "--data", str(pathlib.Path(runs) / "train" / "images"), "--image-size",
            str(IMAGE_SIZE), "--epochs", str(PRETEXT_EPOCHS), *PRETEXTS[name], *seed, "--out",
            str(tt.pretext_folder(name, runs, run_number))]


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
    done = tt.load_cells(path, tt.CURVE_MEASURED_KEYS) if path.is_file() else []
    for steps in [] if collect else CURVE:
        if any(cell["steps"] == steps for cell in done):
            continue
        part = path.with_name(path.stem + ".part.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        run(transfer_command("scratch-unet-2x2", [CURVE_LABELS], [0], runs, part, steps=steps))
        done = sorted([c for c in done if c["steps"] != steps] + tt.load_cells(part, tt.CURVE_MEASURED_KEYS),
                      key=lambda cell: cell["steps"])
        utils.save_json(done, path)
        part.unlink()
    cells = [cell for cell in done if cell["steps"] in CURVE]
    if not cells:
        raise ValueError(f"no cell of the curve is measured in {path}: run --curve without --collect first")
    return cells, curve_markdown(cells)


def curve_markdown(cells):
    """The curve's table: one row per budget, scored on the held-out tenth of the labelled training figures."""
    lines = ["| steps | validation OKS AP | AP50 | PCK@0.1 | seconds | CPU |", "|---|---|---|---|---|---|"]
    lines += [f"| {c['steps']:,} | {100 * c['val_ap']:.1f} | {100 * c['val_ap50']:.1f} | {100 * c['val_pck']:.1f} % | "
              f"{c['seconds']:.0f} | {c['cpu']} |" for c in cells]
    return "\n".join(lines)


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
            utils.save_json(table, path)
            print(printed)
            return
        rows = args.only or ROWS
        labels = args.labels
        for name in PRETEXTS:
            for extra, _ in ([] if args.collect or name not in rows else tt.by_pretext_run(name, args.seeds)):
                if not (tt.pretext_folder(name, args.runs, extra["run"]) / run_folder.CONFIG).is_file():
                    run([*pretext_command(name, args.runs, extra["run"]), "--quiet", "--overwrite"])
        cells = []
        for init in rows:
            cells_path = tt.cells_file(init, "keypoints", MODES[0], args.runs)
            if not args.collect:
                cells_path.parent.mkdir(parents=True, exist_ok=True)
                tt.measure(functools.partial(transfer_command, init, runs=args.runs), cells_path, labels, args.seeds,
                           False, group=functools.partial(tt.by_pretext_run, init),
                           source=functools.partial(tt.pretext_source, init))
            if cells_path.is_file():
                cells += [{**c, "row": init} for c in tt.load_cells(cells_path, tt.SUMMARY_KEYS, scored=True)]
        if not cells:
            raise ValueError(f"no cell is measured in {args.runs}/cells: run the table without --collect first")
        table.update(cells=cells, cpu=utils.cpu_description(),
                     pretext_commands={tt.pretext_folder(name, args.runs, r).name:
                                       " ".join(pretext_command(name, args.runs, r))
                                       for name in PRETEXTS for r in range(tt.PRETEXT_RUNS)})
        utils.save_json(table, path)
        print(tt.markdown(tt.summarise(cells)) + "\n\n" + tt.paired(cells))

    run_script("figures_table.py", work)


if __name__ == "__main__":
    main()
