"""Folders of colour photo crops, cut from the public-domain photographs that scikit-image bundles.

    python -m bench.photos --sample                                    # sample/photos: 203 crops, shipped
    python -m bench.photos --out /tmp/photos --num 4000                # train/ and test/: no photograph in both
    python -m bench.photos --results --runs runs/photos                # the results rows on photographs
    python -m bench.photos --border --runs runs/photos                 # the border solver's rows, same crops

``--results`` makes the crops (``--num`` training crops) in RUNS/crops, trains each network of
``RESULTS`` at 3x3 and 4x4 on RUNS/crops/train for ``EPOCHS`` epochs, scores each run on every
crop of RUNS/crops/test, and writes bench/photos.json (docs/results.md's photographs table).
A finished run is not trained again, so a stopped command continues where it stopped.
``--border`` scores the border solver (``evaluate.py --decode border``, nothing trained) on the
same test crops at ``BORDER_GRIDS`` and puts its rows into bench/photos.json beside the networks'.

(Run from the repository root.) Each crop is a random box of a photograph (a side of 15 to 60 %
of the photograph's shorter side, aspect ratio 3:4 to 4:3), saved at 40 to 120 px a side, as a
JPEG (quality 90) or, one in five, a PNG: images of many sizes, as a user's folder would hold.
``--out`` writes ``train/`` from ``TRAIN_PHOTOS`` and ``test/`` from ``TEST_PHOTOS``, so a
network trained on one is scored on photographs it never saw (docs/results.md).

The photographs and their licences (scikit-image's ``skimage.data``): astronaut (NASA, public
domain), chelsea (Stefan van der Walt, CC0), coffee (Rachel Michetti, CC0), hubble_deep_field
(NASA, public domain), immunohistochemistry (no known copyright restrictions), retina (Mikael
Häggström, CC0), rocket (SpaceX, public domain).
"""

import argparse
import pathlib
import subprocess
import sys

import numpy as np

TRAIN_PHOTOS = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry")
TEST_PHOTOS = ("rocket", "retina")
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "sample" / "photos"
SAMPLE_PER_PHOTO = 29  # 7 photographs: 203 crops
ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "bench" / "photos.json"
# The results rows: every network at both grids, 48 px colour crops, one fixed budget of epochs
# (a CPU cost limit, fixed before any run: about 10 minutes a run on 2 cores without AVX-512).
RESULTS = [(arch, grid) for arch in ("transformer", "unet") for grid in (3, 4)]
IMAGE_SIZE = 48
EPOCHS = 10
BORDER_GRIDS = (2, 3, 4)


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


def write(folder, photos, per_photo, seed):
    """Writes ``per_photo`` crops of each photograph into ``folder/<photograph>/NNN.jpg|png``; returns the count."""
    count = 0
    for p, name in enumerate(photos):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, crop in enumerate(crops(photograph(name), per_photo, [seed, p])):
            if i % 5 == 4:
                crop.save(folder / name / f"{i:03d}.png")
            else:
                crop.save(folder / name / f"{i:03d}.jpg", quality=90)
            count += 1
    return count


def write_crops(out, num, seed):
    """Writes ``num`` training crops of ``TRAIN_PHOTOS`` into OUT/train and a quarter as many of ``TEST_PHOTOS``
    into OUT/test (seed + 1); returns both counts."""
    train = write(out / "train", TRAIN_PHOTOS, -(-num // len(TRAIN_PHOTOS)), seed)
    return train, write(out / "test", TEST_PHOTOS, -(-num // 4 // len(TEST_PHOTOS)), seed + 1)


def results(runs, num, seed, collect=False):
    """Trains and scores every row of ``RESULTS`` (see the module docstring), writing ``RESULTS_JSON`` after each.

    With ``collect``, nothing is trained: the rows whose runs are finished are scored and written.

    Returns:
        The results file's dict: its ``rows``, the ``cpu``, the photographs on either side.
    """
    import run_folder
    import utils

    runs = pathlib.Path(runs)
    crops = runs / "crops"
    if not (crops / "test").is_dir() and not collect:
        train, test = write_crops(crops, num, seed)
        print(f"{train} training crops, {test} test crops in {crops}", flush=True)
    table = {"command": "python -m bench.photos --results --runs " + str(runs), "train_photos": list(TRAIN_PHOTOS),
             "test_photos": list(TEST_PHOTOS), "rows": [], "cpu": utils.cpu_description()}
    for arch, grid in RESULTS:
        out = runs / f"{arch}-{grid}x{grid}"
        command = [sys.executable, str(ROOT / "train.py"), "--data", str(crops / "train"), "--image-size",
                   str(IMAGE_SIZE), "--grid", str(grid), "--arch", arch, "--epochs", str(EPOCHS), "--quiet",
                   "--out", str(out)]
        if not (out / run_folder.CONFIG).is_file():
            if collect:
                continue
            resume = ["--resume"] if run_folder.interrupted(out) else []
            subprocess.run(command + resume, check=True)
        metrics = out / "test-photographs.json"
        if not metrics.is_file():
            subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--model", str(out), "--data",
                            str(crops / "test"), "--split", "all", "--metrics", str(metrics), "--plot",
                            str(out / "reassembled.png")], check=True)
        scored, val = utils.load_json(metrics), utils.load_json(out / run_folder.VAL_METRICS)
        config = run_folder.read_config(out)
        table["rows"].append({"network": arch, "grid": f"{grid}x{grid}", "epochs": EPOCHS, "image_size": IMAGE_SIZE,
                              "train_images": config["train_digits"], "test_images": scored["num_puzzles"],
                              "exact": scored["exact"], "pieces": scored["pieces"],
                              "val_exact": val["hungarian"]["exact"], "train_seconds": val["train_seconds"],
                              "cpu": config.get("cpu") or table["cpu"],
                              "command": " ".join(["python", "train.py", *command[2:]])})
        utils.save_json(table, RESULTS_JSON)  # row by row: a stopped command keeps what it measured
    return table


def border_results(runs, num, seed):
    """Scores the border solver on the results' test crops at ``BORDER_GRIDS``; its rows replace its old ones.

    Returns:
        The results file's dict, the networks' rows kept.
    """
    import utils

    runs = pathlib.Path(runs)
    crops = runs / "crops"
    if not (crops / "test").is_dir():
        write_crops(crops, num, seed)
    table = utils.load_json(RESULTS_JSON)
    rows = [row for row in table["rows"] if row["network"] != "border"]
    for grid in BORDER_GRIDS:
        metrics = runs / f"border-{grid}x{grid}.json"
        command = ["python", "evaluate.py", "--decode", "border", "--data", str(crops / "test"), "--grid", str(grid),
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


NAMES = {"transformer": "piece transformer (default)", "unet": "original U-Net (`--arch unet`)",
         "border": "border solver (learns nothing)"}


def markdown(results):
    """The photographs table: one row per network and grid, scored on crops of photographs it never saw.

    A row of ``RESULTS`` the file lacks is named as not measured.
    """
    lines = ["| network | grid | epochs | training crops | test crops | exact | pieces | training time |",
             "|---|---|---|---|---|---|---|---|"]
    done = {(row["network"], row["grid"]) for row in results["rows"]}
    for row in results["rows"]:
        if row["network"] == "border":  # it trains nothing: its time is its decoding's, per puzzle
            lines.append(f"| {NAMES['border']} | {row['grid']} | – | – | {row['test_images']:,} | "
                         f"{100 * row['exact']:.2f} % | {100 * row['pieces']:.2f} % | "
                         f"none ({row['ms_per_puzzle']:.1f} ms a puzzle) |")
            continue
        lines.append(f"| {NAMES[row['network']]} | {row['grid']} | {row['epochs']} | {row['train_images']:,} | "
                     f"{row['test_images']:,} | {100 * row['exact']:.2f} % | {100 * row['pieces']:.2f} % | "
                     f"{row['train_seconds']:.0f} s |")
    for arch, grid in RESULTS:
        if (arch, f"{grid}x{grid}") not in done:
            lines.append(f"| {NAMES[arch]} | {grid}x{grid} | {EPOCHS} | not measured yet | | | | |")
    lines.append(f"| the CPU | {results['cpu']} | | | | | | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", action="store_true", help=f"write the shipped folder, {SAMPLE}")
    parser.add_argument("--out", default=None, help="write OUT/train and OUT/test")
    parser.add_argument("--num", type=int, default=4000, help="training crops with --out (test: a quarter as many)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops (default 0)")
    parser.add_argument("--results", action="store_true",
                        help=f"train and score the results rows into --runs; write {RESULTS_JSON.name}")
    parser.add_argument("--runs", default="runs/photos", help="--results: its crops and run folders")
    parser.add_argument("--border", action="store_true",
                        help=f"score the border solver on --runs' test crops at {BORDER_GRIDS}; add its rows to "
                             f"{RESULTS_JSON.name}")
    parser.add_argument("--collect", action="store_true",
                        help="--results without training: score the finished runs and write their rows")
    args = parser.parse_args(argv)
    if args.results:
        print(markdown(results(args.runs, args.num, args.seed, args.collect)))
    if args.border:
        print(markdown(border_results(args.runs, args.num, args.seed)))
    if args.sample:
        print(f"{write(SAMPLE, TRAIN_PHOTOS + TEST_PHOTOS, SAMPLE_PER_PHOTO, args.seed)} crops in {SAMPLE}")
    if args.out:
        out = pathlib.Path(args.out)
        train, test = write_crops(out, args.num, args.seed)
        print(f"{train} training crops in {out / 'train'}, {test} test crops in {out / 'test'}")


if __name__ == "__main__":
    main()
