"""Photographs: the corpus, and the results of learning jigsaws from it, against border matching.

    python -m bench.photos --corpus runs/photos/corpus       # the corpus alone (below)
    python -m bench.photos --results --runs runs/photos      # trains and scores the results rows: bench/photos.json
    python -m bench.photos --border --runs runs/photos       # the border solver's rows, the same test crops
    python -m bench.photos --levers --runs runs/photos       # the levers rows, 3x3, scored on validation photographs
    python -m bench.photos --ship --runs runs/photos         # copies the default rows' runs into models/
    python -m bench.photos --sample                          # sample/photos: 203 crops, shipped
    python -m bench.photos --crops-of MY_PHOTOS --out MY_CROPS  # fixed crops of your photographs, as the test's

(Run from the repository root.) **The corpus** is fixed here, split by photograph, never by crop:
``CORPUS_TRAIN``, thirteen whole photographs that ``train.py --crop`` cuts fresh random crops
from (RUNS/corpus/train); ``CORPUS_VAL``, two photographs whose ``VAL_PER_PHOTO`` crops each are
the validation images every choice is made on (RUNS/corpus/val); ``CORPUS_TEST``, two
photographs whose 1,000 crops are scored once, by the finished runs (RUNS/corpus/test). A fixed
crop is a random box of a photograph (a side of 15 to 60 % of its shorter side, aspect ratio
3:4 to 4:3), saved at 40 to 120 px a side as a JPEG (quality 90) or, one in five, a PNG: images
of many sizes, as a user's folder would hold. The results file names the photographs.

``--results`` trains each row of ``RESULTS`` (48 px colour puzzles, ``EPOCHS`` epochs of
``CROPS_PER_EPOCH`` fresh crops) and scores it on every test crop; ``--border`` scores the border
solver (``evaluate.py --decode border``, nothing trained) on the same crops at ``BORDER_GRIDS``;
``--levers`` trains ``LEVERS``, each a change to the network or its training, for one equal
budget at 3x3 and records its validation figures. A finished run is not trained again and an
interrupted one is continued (``--resume``), so a stopped command goes on where it stopped.

The photographs and their licences: scikit-image's ``skimage.data`` files astronaut (NASA,
public domain), brick, camera, clock_motion, coins, grass, gravel, moon (scikit-image's own,
CC0 or public domain), chelsea (Stefan van der Walt, CC0), coffee (Rachel Michetti, CC0),
hubble_deep_field (NASA, public domain), ihc (immunohistochemistry, no known copyright
restrictions), motorcycle_left and motorcycle_right (the Middlebury stereo set, free for research
use), retina (Mikael Häggström, CC0), rocket (SpaceX, public domain); matplotlib's
grace_hopper (public domain).
"""

import argparse
import pathlib
import shutil
import subprocess
import sys

import numpy as np

import run_folder

TRAIN_PHOTOS = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry")  # sample/photos
TEST_PHOTOS = ("rocket", "retina")
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "sample" / "photos"
SAMPLE_PER_PHOTO = 29  # 7 photographs: 203 crops
ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "bench" / "photos.json"
MODELS = ROOT / "models"
# The photograph corpus: whole photographs to train on with train.py --crop, two held-out
# photographs for validation and the test photographs, each split a photograph's own. Files that
# scikit-image and matplotlib install (grayscale ones become three equal channels).
CORPUS_TRAIN = ("astronaut", "brick", "camera", "chelsea", "clock_motion", "coins", "grass", "gravel",
                "hubble_deep_field", "ihc", "moon", "motorcycle_left", "motorcycle_right")
CORPUS_VAL = ("coffee", "grace_hopper")
CORPUS_TEST = TEST_PHOTOS
VAL_PER_PHOTO = 250  # validation crops of each validation photograph
TEST_PER_PHOTO = 500  # test crops of each test photograph
IMAGE_SIZE = 48
CROPS_PER_EPOCH = 3840  # 30 steps of 128 puzzles
# The photographs' network: the piece transformer with the border solver's costs as its attention
# bias (the levers rows chose it, on validation photographs).
DEFAULT_FLAGS = ("--edge-bias", "gradient")
# The results rows: (network flags, grid). Their budgets in epochs were fixed before any run, by
# the CPU time a row may take on 2 cores without AVX-512, never by a score.
RESULTS = [("transformer", 2), ("transformer", 3), ("transformer", 4), ("unet", 3)]
EPOCHS = {2: 30, 3: 50, 4: 50}
BORDER_GRIDS = (2, 3, 4)
# The levers rows: one change each, 3x3, LEVER_EPOCHS epochs, scored on the validation photographs.
LEVER_EPOCHS = 8
LEVERS = [
    ("learned border keys (the digits' default)", ["--edge-bias", "learned"]),
    ("border solver's costs (`--edge-bias gradient`)", ["--edge-bias", "gradient"]),
    ("gradient, colour jitter 0.2, 10 % gray", ["--edge-bias", "gradient", "--jitter", "0.2", "--gray", "0.1"]),
]


def photograph(name) -> np.ndarray:
    """One of scikit-image's bundled colour photographs, ``(H, W, 3)`` uint8."""
    import skimage.data

    return getattr(skimage.data, name)()[..., :3]


def crops(image, num, seed):
    """``num`` random crops of ``image`` (see the module docstring), as PIL images of varied sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    for _ in range(num):
        side = rng.uniform(0.15, 0.6) * min(height, width)
        aspect = rng.uniform(0.75, 4 / 3)
        h, w = int(min(height, side * aspect)), int(min(width, side / aspect))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        out = int(rng.integers(40, 121))
        crop = Image.fromarray(image[top : top + h, left : left + w])
        yield crop.resize((max(1, round(out * w / max(h, w))), max(1, round(out * h / max(h, w)))),
                          Image.Resampling.LANCZOS)


def photograph_file(name) -> pathlib.Path:
    """The file of one of the corpus's photographs."""
    if name == "grace_hopper":
        import matplotlib

        return pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    import skimage

    folder = pathlib.Path(skimage.__file__).parent / "data"
    return next(folder / f"{name}{suffix}" for suffix in (".png", ".jpg") if (folder / f"{name}{suffix}").is_file())


def write_corpus(out, seed):
    """Writes the corpus: OUT/train/NAME.png, the whole training photographs; OUT/val and OUT/test, crops
    of the validation and test photographs made as ``write`` makes them. Returns the three counts."""
    from PIL import Image

    (out / "train").mkdir(parents=True, exist_ok=True)
    for name in CORPUS_TRAIN:
        Image.open(photograph_file(name)).save(out / "train" / f"{name}.png")
    val = write(out / "val", CORPUS_VAL, VAL_PER_PHOTO, seed + 2)
    test = write(out / "test", CORPUS_TEST, TEST_PER_PHOTO, seed + 1)
    return len(CORPUS_TRAIN), val, test


def write(folder, photos, per_photo, seed):
    """Writes ``per_photo`` crops of each photograph into ``folder/<photograph>/NNN.jpg|png``; returns the count.

    ``photos``: names of scikit-image's or the corpus's photographs, or ``(name, (H, W, 3) uint8 image)`` pairs.
    """
    from PIL import Image

    count = 0
    for p, name in enumerate(photos):
        if isinstance(name, tuple):
            name, image = name
        elif name in TRAIN_PHOTOS + TEST_PHOTOS:
            image = photograph(name)
        else:
            image = np.asarray(Image.open(photograph_file(name)).convert("RGB"))
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, crop in enumerate(crops(image, per_photo, [seed, p])):
            if i % 5 == 4:
                crop.save(folder / name / f"{i:03d}.png")
            else:
                crop.save(folder / name / f"{i:03d}.jpg", quality=90)
            count += 1
    return count


def write_crops_of(folder, out, per_photo, seed):
    """Fixed crops of every photograph in a folder (any folder: yours), made as the corpus's test crops are."""
    import crops as feed
    import data

    files, _, _ = data.list_images(folder)
    photos = [(pathlib.Path(name).with_suffix("").as_posix().replace("/", "_"),
               np.asarray(feed.open_photograph(pathlib.Path(folder) / name, 3))) for name in files]
    return write(pathlib.Path(out), photos, per_photo, seed)


def network_flags(arch):
    """train.py's flags for a network of ``RESULTS``."""
    return ["--arch", "unet"] if arch == "unet" else list(DEFAULT_FLAGS)


def train_command(runs, grid, epochs, network):
    """train.py on fresh crops of the corpus's training photographs, validated on its validation crops."""
    corpus = pathlib.Path(runs) / "corpus"
    return ["python", "train.py", "--data", str(corpus / "train"), "--val-data", str(corpus / "val"), "--crop",
            "--crops-per-epoch", str(CROPS_PER_EPOCH), "--image-size", str(IMAGE_SIZE), "--grid", str(grid),
            "--epochs", str(epochs), *network, "--quiet"]


def ensure_corpus(runs, seed=0):
    """Writes RUNS/corpus unless it is there."""
    corpus = pathlib.Path(runs) / "corpus"
    if not (corpus / "test").is_dir():
        train, val, test = write_corpus(corpus, seed)
        print(f"{train} training photographs, {val} validation crops, {test} test crops in {corpus}", flush=True)
    return corpus


def train_once(command, out):
    """Runs a train.py command into ``out`` unless that run is finished; continues an interrupted one."""

    if (out / run_folder.CONFIG).is_file():
        return
    resume = ["--resume"] if run_folder.interrupted(out) else []
    subprocess.run([sys.executable, str(ROOT / "train.py"), *command[2:], "--out", str(out), *resume], check=True)


def results(runs, seed=0, collect=False):
    """Trains and scores every row of ``RESULTS`` (see the module docstring), writing ``RESULTS_JSON`` after each.

    With ``collect``, nothing is trained: the rows whose runs are finished are scored and written.

    Returns:
        The results file's dict: its ``rows`` (the border solver's kept), the ``cpu``, the photographs.
    """
    import utils

    runs = pathlib.Path(runs)
    corpus = runs / "corpus" if collect else ensure_corpus(runs, seed)
    old = utils.load_json(RESULTS_JSON) if RESULTS_JSON.is_file() else {"rows": []}
    table = {**old, "command": "python -m bench.photos --results --runs " + str(runs), "corpus": corpus_record(),
             "cpu": utils.cpu_description(), "rows": [row for row in old["rows"] if row["network"] == "border"]}
    for arch, grid in RESULTS:
        out = runs / f"{arch}-{grid}x{grid}"
        command = train_command(runs, grid, EPOCHS[grid], network_flags(arch))
        if not (out / run_folder.CONFIG).is_file() and collect:
            continue
        train_once(command, out)
        metrics = out / "test-photographs.json"
        if not metrics.is_file():
            subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--model", str(out), "--data",
                            str(corpus / "test"), "--split", "all", "--metrics", str(metrics), "--plot",
                            str(out / "reassembled.png")], check=True)
        scored, val = utils.load_json(metrics), utils.load_json(out / run_folder.VAL_METRICS)
        config = run_folder.read_config(out)
        table["rows"].append({"network": arch, "grid": f"{grid}x{grid}", "epochs": EPOCHS[grid],
                              "steps": EPOCHS[grid] * CROPS_PER_EPOCH // config["batch_size"],
                              "image_size": IMAGE_SIZE, "train_images": config["train_digits"],
                              "test_images": scored["num_puzzles"], "exact": scored["exact"],
                              "pieces": scored["pieces"], "val_exact": val["hungarian"]["exact"],
                              "train_seconds": val["train_seconds"], "cpu": config.get("cpu") or table["cpu"],
                              "curve": curve_of(out, CROPS_PER_EPOCH // config["batch_size"]),
                              "command": " ".join(command + ["--out", str(out)])})
        utils.save_json(table, RESULTS_JSON)  # row by row: a stopped command keeps what it measured
    return table


def curve_of(run, steps_per_epoch):
    """The run's learning curve: ``[[steps, validation exact], ...]``, one point an epoch."""

    log = run_folder.read_log(run)
    return [[int(epoch + 1) * steps_per_epoch, round(exact, 4)] for epoch, exact in zip(log["epoch"], log["val_exact"],
                                                                                      strict=True)]


def corpus_record():
    """Which photographs train, validate and test: named in the results file."""
    return {"train": list(CORPUS_TRAIN), "val": list(CORPUS_VAL), "test": list(CORPUS_TEST),
            "val_crops": VAL_PER_PHOTO * len(CORPUS_VAL), "crops_per_epoch": CROPS_PER_EPOCH}


def levers(runs, seed=0):
    """Trains each of ``LEVERS`` at 3x3 for ``LEVER_EPOCHS`` epochs; its validation figures go into the results file."""
    import utils

    runs = pathlib.Path(runs)
    ensure_corpus(runs, seed)
    table = utils.load_json(RESULTS_JSON) if RESULTS_JSON.is_file() else {"rows": [], "cpu": utils.cpu_description()}
    rows = []
    for number, (name, flags) in enumerate(LEVERS):
        out = runs / "levers" / f"lever{number}"
        command = train_command(runs, 3, LEVER_EPOCHS, flags)
        train_once(command, out)
        val = utils.load_json(out / run_folder.VAL_METRICS)
        rows.append({"lever": name, "grid": "3x3", "epochs": LEVER_EPOCHS,
                     "steps": LEVER_EPOCHS * CROPS_PER_EPOCH // 128, "val_exact": val["hungarian"]["exact"],
                     "val_pieces": val["hungarian"]["pieces"], "train_seconds": val["train_seconds"],
                     "cpu": utils.cpu_description(), "command": " ".join(command + ["--out", str(out)])})
        table["levers"] = rows
        utils.save_json(table, RESULTS_JSON)
    # What the network has to beat on the same validation crops.
    metrics = runs / "levers" / "border-3x3.json"
    command = ["python", "evaluate.py", "--decode", "border", "--data", str(runs / "corpus" / "val"), "--grid", "3",
               "--image-size", str(IMAGE_SIZE), "--split", "all", "--metrics", str(metrics)]
    subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *command[2:]], check=True)
    scored = utils.load_json(metrics)
    rows.append({"lever": NAMES["border"], "grid": "3x3", "epochs": 0, "steps": 0, "val_exact": scored["exact"],
                 "val_pieces": scored["pieces"], "train_seconds": None, "cpu": utils.cpu_description(),
                 "command": " ".join(command)})
    utils.save_json(table, RESULTS_JSON)
    return table


def border_results(runs, seed=0):
    """Scores the border solver on the test crops at ``BORDER_GRIDS``; its rows replace its old ones.

    Returns:
        The results file's dict, the networks' rows kept.
    """
    import utils

    runs = pathlib.Path(runs)
    test = ensure_corpus(runs, seed) / "test"
    table = utils.load_json(RESULTS_JSON)
    rows = [row for row in table["rows"] if row["network"] != "border"]
    for grid in BORDER_GRIDS:
        metrics = runs / f"border-{grid}x{grid}.json"
        command = ["python", "evaluate.py", "--decode", "border", "--data", str(test), "--grid", str(grid),
                   "--image-size", str(IMAGE_SIZE), "--split", "all", "--metrics", str(metrics)]
        subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *command[2:]], check=True)
        scored = utils.load_json(metrics)
        rows.append({"network": "border", "grid": f"{grid}x{grid}", "epochs": 0, "image_size": IMAGE_SIZE,
                     "train_images": 0, "test_images": scored["num_puzzles"], "exact": scored["exact"],
                     "pieces": scored["pieces"], "ms_per_puzzle": scored["border"]["ms_per_puzzle"],
                     "beam": scored["border"]["beam"], "cpu": utils.cpu_description(), "command": " ".join(command)})
    table["rows"] = rows
    utils.save_json(table, RESULTS_JSON)
    return table


NAMES = {"transformer": "piece transformer, `--edge-bias gradient`", "unet": "original U-Net (`--arch unet`)",
         "border": "border solver (learns nothing)"}
GOALS = {"2x2": 0.99, "3x3": 0.95, "4x4": 0.75}  # exact, on the test photographs
SHIPPED = (run_folder.CONFIG, run_folder.BEST, run_folder.VAL_METRICS, run_folder.LOG, "test-photographs.json")
MODELS_MB = 20  # what models/ may hold in all


def markdown(results):
    """The photographs table: one row per network and grid, scored on crops of photographs it never saw.

    A row of ``RESULTS`` the file lacks is named as not measured.
    """
    lines = ["| solver | grid | training steps | training photographs | test crops | exact | pieces | training time |",
             "|---|---|---|---|---|---|---|---|"]
    done = {(row["network"], row["grid"]) for row in results["rows"]}
    for row in sorted(results["rows"], key=lambda row: (row["grid"], row["network"] != "border", row["network"])):
        if row["network"] == "border":  # it trains nothing: its time is its decoding's, per puzzle
            lines.append(f"| {NAMES['border']} | {row['grid']} | – | – | {row['test_images']:,} | "
                         f"{100 * row['exact']:.2f} % | {100 * row['pieces']:.2f} % | "
                         f"none ({row['ms_per_puzzle']:.1f} ms a puzzle) |")
            continue
        lines.append(f"| {NAMES[row['network']]} | {row['grid']} | {row['steps']:,} | {row['train_images']} | "
                     f"{row['test_images']:,} | {100 * row['exact']:.2f} % | {100 * row['pieces']:.2f} % | "
                     f"{row['train_seconds'] / 60:.0f} min |")
    for arch, grid in RESULTS:
        if (arch, f"{grid}x{grid}") not in done:
            lines.append(f"| {NAMES[arch]} | {grid}x{grid} | {EPOCHS[grid] * CROPS_PER_EPOCH // 128:,} | "
                         "not measured yet | | | | |")
    lines.append(f"| the CPU | {results['cpu']} | | | | | | |")
    return "\n".join(lines)


def goals_markdown(results):
    """The goals on the test photographs: the network's exact rate against the goal and against border matching."""
    rows = {(row["network"], row["grid"]): row for row in results["rows"]}
    lines = ["| grid | goal (exact) | piece transformer | border solver | met |", "|---|---|---|---|---|"]
    for grid, goal in GOALS.items():
        network, border = rows.get(("transformer", grid)), rows.get(("border", grid))
        if network is None:
            lines.append(f"| {grid} | ≥ {100 * goal:.0f} % | not measured yet | | |")
            continue
        met = network["exact"] >= goal and (border is None or network["exact"] > border["exact"])
        border_text = f"{100 * border['exact']:.2f} %" if border else "not measured"
        lines.append(f"| {grid} | ≥ {100 * goal:.0f} %, above border matching | {100 * network['exact']:.2f} % | "
                     f"{border_text} | {'met' if met else '**not met**'} |")
    return "\n".join(lines)


def levers_markdown(results):
    """The levers table: each change's validation figures after one equal budget at 3x3."""
    rows = results.get("levers", [])
    if not rows:
        return "| change | |\n|---|---|\n| not measured yet | |"
    lines = [f"| change (3x3, {rows[0]['steps']:,} steps of 128 puzzles) | validation exact | validation pieces | "
             "training time |", "|---|---|---|---|"]
    for row in rows:
        time = "none" if row["train_seconds"] is None else f"{row['train_seconds'] / 60:.1f} min"
        lines.append(f"| {row['lever']} | {100 * row['val_exact']:.2f} % | {100 * row['val_pieces']:.2f} % | "
                     f"{time} |")
    lines.append(f"| the CPU | {rows[0]['cpu']} | | |")
    return "\n".join(lines)


def plot_curves(results, path):
    """The learning curves of the results' networks: validation exact against training steps, one line a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import utils

    figure, axes = plt.subplots(figsize=(6, 3.6))
    for row in results["rows"]:
        if row.get("curve"):
            steps, exact = zip(*row["curve"], strict=True)
            axes.plot(steps, [100 * e for e in exact], label=f"{NAMES[row['network']].split(',')[0]}, {row['grid']}")
    axes.set_xlabel("training steps (128 puzzles each)")
    axes.set_ylabel("exact on validation photographs (%)")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    with utils.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def without_optimizer(source, target):
    """Saves the model at ``source`` without its optimizer's state (a third of the size) at ``target``."""
    import keras

    import model_utils  # noqa: F401  (registers the project's layers)

    keras.models.load_model(source, compile=False).save(target)


def ship(runs):
    """Puts the default network's runs of ``RESULTS`` into models/photos-NxN: ``SHIPPED`` files, the
    model without its optimizer. Checked whole before models/ is touched.

    Returns:
        The bytes shipped.

    Raises:
        FileNotFoundError: a run lacks a file.
        ValueError: the runs would take more than ``MODELS_MB``.
    """
    runs = pathlib.Path(runs)
    chosen = [(runs / f"{arch}-{grid}x{grid}", f"photos-{grid}x{grid}") for arch, grid in RESULTS
              if arch == "transformer"]
    for run, _ in chosen:
        missing = [name for name in SHIPPED if not (run / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{run} lacks {', '.join(missing)}: run --results first")
    staging = MODELS.parent / f".{MODELS.name}-staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for run, name in chosen:
            (staging / name).mkdir(parents=True)
            for file in SHIPPED:
                if file.endswith(".keras"):
                    without_optimizer(run / file, staging / name / file)
                else:
                    shutil.copy2(run / file, staging / name / file)
        total = sum(path.stat().st_size for path in staging.rglob("*") if path.is_file())
        replaced = {name for _, name in chosen}
        others = sum(path.stat().st_size for path in MODELS.rglob("*")
                     if path.is_file() and path.relative_to(MODELS).parts[0] not in replaced)
        if total + others > MODELS_MB * 2**20:
            raise ValueError(f"the runs take {total / 2**20:.1f} MB and models/ holds {others / 2**20:.1f} MB of "
                             f"others: more than models/ may hold ({MODELS_MB} MB)")
        for run, name in chosen:  # replaced, never added to
            shutil.rmtree(MODELS / name, ignore_errors=True)
            MODELS.mkdir(exist_ok=True)
            (staging / name).rename(MODELS / name)
            print(f"{run} -> {MODELS / name}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", action="store_true", help=f"write the shipped folder, {SAMPLE}")
    parser.add_argument("--corpus", default=None,
                        help="write the photograph corpus: CORPUS/train (whole photographs), CORPUS/val, CORPUS/test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fixed crops (default 0)")
    parser.add_argument("--runs", default="runs/photos", help="the corpus (RUNS/corpus) and the run folders")
    parser.add_argument("--results", action="store_true",
                        help=f"train and score the results rows into --runs; write {RESULTS_JSON.name}")
    parser.add_argument("--collect", action="store_true",
                        help="--results without training: score the finished runs and write their rows")
    parser.add_argument("--border", action="store_true",
                        help=f"score the border solver on the test crops at {BORDER_GRIDS}; add its rows to "
                             f"{RESULTS_JSON.name}")
    parser.add_argument("--levers", action="store_true",
                        help=f"train the levers rows into RUNS/levers; write them into {RESULTS_JSON.name}")
    parser.add_argument("--ship", action="store_true",
                        help=f"copy the default network's results runs into models/ (at most {MODELS_MB} MB)")
    parser.add_argument("--curve", default=None, help="plot the results' learning curves into this PNG")
    parser.add_argument("--crops-of", default=None,
                        help="write fixed crops of every photograph in this folder (made as the test crops are) into "
                             "--out, --per-photo of each")
    parser.add_argument("--out", default=None, help="--crops-of: where")
    parser.add_argument("--per-photo", type=int, default=50, help="--crops-of: crops of each photograph (default 50)")
    args = parser.parse_args(argv)
    if args.corpus:
        train, val, test = write_corpus(pathlib.Path(args.corpus), args.seed)
        print(f"{train} training photographs, {val} validation crops, {test} test crops in {args.corpus}")
    if args.levers:
        print(levers_markdown(levers(args.runs, args.seed)))
    if args.border:
        print(markdown(border_results(args.runs, args.seed)))
    if args.results or args.collect:
        print(markdown(results(args.runs, args.seed, args.collect)))
    if args.ship:
        print(f"{ship(args.runs) / 2**20:.1f} MB in {MODELS}")
    if args.curve:
        import utils

        plot_curves(utils.load_json(RESULTS_JSON), args.curve)
    if args.crops_of:
        if not args.out:
            parser.error("--crops-of needs --out")
        print(f"{write_crops_of(args.crops_of, args.out, args.per_photo, args.seed)} crops in {args.out}")
    if args.sample:
        print(f"{write(SAMPLE, TRAIN_PHOTOS + TEST_PHOTOS, SAMPLE_PER_PHOTO, args.seed)} crops in {SAMPLE}")


if __name__ == "__main__":
    main()
