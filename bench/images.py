"""What images other than MNIST cost: streaming from a folder, memory against the folder's size, colour.

    python -m bench.images --quick                      # small sizes, a few minutes; figures indicative only
    python -m bench.images --json bench/images.json     # the full run (docs/benchmarks.md)

(Run from the repository root.) Every figure is a ratio against a baseline measured in the
same command; the folders are generated here, in a temporary folder, and deleted at the end.

1. streaming: training images/s of the default network (4x4 puzzles of 64x64 colour images)
   fed by ``PuzzleBatches`` over a folder of 64x64 JPEGs (``data.ImageFiles``, decoded on two
   threads as train.py does), against the same images decoded beforehand into an array in
   memory; interleaved rounds, the best of each.
2. memory: peak RSS of a whole ``train.py`` process (one epoch, default network, 2x2, 32 px)
   over a folder of 20,000 PNG files, against the same command over 200,000.
3. colour: seconds a training step (batch 128, 48 px, 3x3) of each network on 3-channel
   images, against the same network on 1-channel images; interleaved rounds.
5. crop feed: puzzles/s that ``PuzzleBatches`` over ``crops.RandomCrops`` makes on two threads
   (3x3 puzzles of fresh 48 px crops, as ``train.py --crop`` feeds them), against the puzzles/s
   that a training step of the default network consumes on the same puzzles from memory; two
   sources: the photograph corpus's training photographs (``bench.photos``, decoded once, then
   from the cache) and a folder of 600 large JPEGs (2400x1800), of which the cache holds a fifth.
6. crop memory: peak RSS of a whole ``train.py --crop`` process (one epoch of 256 crops, default
   network, 2x2, 32 px) over a folder of 1,000 photographs against the same over 100,000.
4. loader: the choice between a PyDataset with workers and tf.data, by training images/s of the
   default network (as in 1) fed from the folder of JPEGs by ``PuzzleBatches`` on 2 threads of
   a PyDataset (what train.py uses), against the same batches mapped by tf.data on 2 parallel
   calls, and against one thread (no overlap with training); 3 interleaved rounds, the median
   of each (rates jump between rounds on two cores).
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np

import data
import utils
from bench.bench import ROOT, network, run_measured, step_clock
from cli import run_script

GOALS = {
    "streaming": "a folder of JPEGs >= 0.9x the same images from memory",
    "memory": "200,000 files <= 1.1x 20,000 files",
    "colour": "reported",
    "loader": "train.py's way to feed batches is the fastest",
    "crops": "the crop feed makes >= 1.5x the puzzles a training step consumes",
    "crop_memory": "100,000 photographs <= 1.1x 1,000 photographs",
}
SECTIONS = tuple(GOALS)


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="small sizes; figures indicative only")
    parser.add_argument("--json", default=None,
                        help="where to write the results (default bench/images.json; with --quick, "
                             "bench/images-quick.json)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    return parser.parse_args(argv)


def write_folder(folder, count, size, suffix, seed=0):
    """``count`` random-crop images of scikit-image's photographs at exactly ``size`` px, as ``suffix`` files.

    Files go 1,000 to a sub-folder, as a large image set is usually stored.
    """
    from PIL import Image

    from bench.photos import TEST_PHOTOS, TRAIN_PHOTOS, photograph

    photos = [photograph(name) for name in TRAIN_PHOTOS + TEST_PHOTOS]
    rng = np.random.default_rng(seed)
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(size, min(photo.shape[:2]) // 2))
        top, left = (int(rng.integers(0, photo.shape[d] - side + 1)) for d in (0, 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side]).resize((size, size),
                                                                                  Image.Resampling.BILINEAR)
        path = folder / f"{i // 1000:04d}" / f"{i % 1000:03d}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        crop.save(path, **({"quality": 90} if suffix == "jpg" else {}))


def jpeg_files(folder, count, size):
    """``count`` colour JPEGs of ``size`` px written into ``folder``, as the ``data.ImageFiles`` train.py reads."""
    write_folder(folder, count, size, "jpg")
    return data.ImageFiles(folder, data.list_images(folder)[0], (size, size), 3)


# ------------------------------------------------------------------------- 1. streaming
def bench_streaming(workdir, quick):
    from training import PuzzleBatches

    grid, size, batch_size = (4, 4), 64, 128
    count = 1280 if quick else 6400
    files = jpeg_files(workdir / "jpegs", count, size)
    in_memory = files.load()
    sigma = utils.default_sigma((size, size), grid)
    streamed = PuzzleBatches(files, grid, sigma, batch_size, seed=0, workers=2)
    arrays = PuzzleBatches(in_memory, grid, sigma, batch_size, seed=0)
    model = network("transformer", grid, (size, size), 3)
    model.fit(arrays, epochs=1, steps_per_epoch=3, verbose=0)  # build and trace outside the timing
    rates = {"folder": [], "memory": []}
    for _ in range(2 if quick else 3):  # interleaved, so drift in machine speed hits both
        for name, batches in (("folder", streamed), ("memory", arrays)):
            started = time.perf_counter()
            model.fit(batches, epochs=1, verbose=0)
            rates[name].append(count / (time.perf_counter() - started))
    best = {name: max(values) for name, values in rates.items()}
    ratio = best["folder"] / best["memory"]
    return {"images": count, "size": size, "grid": "4x4", "folder_per_s": best["folder"],
            "memory_per_s": best["memory"], "ratio": ratio, "all_runs": rates, "met": ratio >= 0.9}


# ---------------------------------------------------------------------------- 2. memory
def bench_memory(workdir, quick):
    return peak_rss_over_folders(workdir, (2000, 20000) if quick else (20000, 200000), "png", 32, [])


def peak_rss_over_folders(workdir, sizes, suffix, file_size, extra):
    """Peak RSS of one train.py epoch (default network, 2x2, 32 px) over a small and a large folder of files.

    Args:
        sizes: ``(small, large)`` numbers of files, each written by ``write_folder`` at ``file_size`` px.
        extra: more train.py flags (``--crop`` ...).
    """
    runs = {}
    for count in sizes:
        folder = workdir / f"{suffix}-{count}{'-crop' if extra else ''}"
        started = time.perf_counter()
        write_folder(folder, count, file_size, suffix, seed=count)
        written = time.perf_counter() - started
        command = [sys.executable, str(ROOT / "train.py"), "--data", str(folder), *extra, "--image-size", "32",
                   "--grid", "2", "--epochs", "1", "--quiet", "--out", str(workdir / f"run-{folder.name}")]
        code, seconds, peak_mb, output = run_measured(command)
        if code != 0:
            raise RuntimeError(f"{' '.join(command[1:])} over {count} files failed:\n{output[-2000:]}")
        runs[str(count)] = {"peak_rss_mb": peak_mb, "seconds": seconds, "write_seconds": written}
    ratio = runs[str(sizes[1])]["peak_rss_mb"] / runs[str(sizes[0])]["peak_rss_mb"]
    return {"files": list(sizes), "runs": runs, "ratio": ratio, "met": ratio <= 1.1}


# ---------------------------------------------------------------------------- 3. colour
def bench_colour(quick):
    from training import PuzzleBatches

    grid, size = (3, 3), 48
    steps, rounds = (4, 2) if quick else (20, 3)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, ((steps + 2) * 128, size, size, 3), dtype=np.uint8)
    sigma = utils.default_sigma((size, size), grid)
    rows = []
    for arch in ("transformer", "unet"):
        models, batches = {}, {}
        for channels in (1, 3):
            batches[channels] = PuzzleBatches(images if channels == 3 else images[..., 0], grid, sigma, 128, seed=0)
            models[channels] = network(arch, grid, (size, size), channels)
            models[channels].fit(batches[channels], epochs=1, steps_per_epoch=2, verbose=0)  # build and trace
        seconds = {1: [], 3: []}
        for _ in range(rounds):
            for channels, model in models.items():
                clock = step_clock()
                model.fit(batches[channels], epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
                seconds[channels].append(clock.seconds_per_step())
        best = {channels: min(values) for channels, values in seconds.items()}
        rows.append({"network": arch, "gray_step_s": best[1], "colour_step_s": best[3], "ratio": best[3] / best[1],
                     "all_runs": {str(k): v for k, v in seconds.items()}})
    return {"grid": "3x3", "size": size, "rows": rows, "met": True}


# ---------------------------------------------------------------------------- 4. loader
def tf_data_batches(batches, calls):
    """``batches`` (a ``PuzzleBatches``) as a tf.data pipeline: batch ``i`` made by ``calls`` parallel map calls."""
    import tensorflow as tf

    x_shape, y_shape = (array.shape[1:] for array in batches[0])

    def make(index):
        x, y = tf.numpy_function(lambda i: batches[int(i)], [index], (tf.float32, tf.float32))
        return tf.ensure_shape(x, (None, *x_shape)), tf.ensure_shape(y, (None, *y_shape))

    return (tf.data.Dataset.range(len(batches)).map(make, num_parallel_calls=calls, deterministic=True)
            .prefetch(calls))


def bench_loader(workdir, quick):
    from training import PuzzleBatches

    grid, size, batch_size = (4, 4), 64, 128
    count = 640 if quick else 2560
    files = jpeg_files(workdir / "loader-jpegs", count, size)
    sigma = utils.default_sigma((size, size), grid)
    feeds = {"PyDataset, 2 worker threads": PuzzleBatches(files, grid, sigma, batch_size, seed=0, workers=2),
             "tf.data, 2 parallel calls": tf_data_batches(PuzzleBatches(files, grid, sigma, batch_size, seed=0), 2),
             "PyDataset, 1 thread": PuzzleBatches(files, grid, sigma, batch_size, seed=0)}
    model = network("transformer", grid, (size, size), 3)
    model.fit(feeds["PyDataset, 1 thread"], epochs=1, steps_per_epoch=2, verbose=0)  # build and trace
    rates = {name: [] for name in feeds}
    for _ in range(2 if quick else 3):  # interleaved, so drift in machine speed hits all
        for name, feed in feeds.items():
            started = time.perf_counter()
            model.fit(feed, epochs=1, verbose=0)
            rates[name].append(count / (time.perf_counter() - started))
    middle = {name: float(np.median(values)) for name, values in rates.items()}
    ours = middle["PyDataset, 2 worker threads"]
    fastest = max(middle, key=middle.get)
    return {"images": count, "size": size, "grid": "4x4", "per_s": middle, "all_runs": rates,
            "ratios": {name: rate / ours for name, rate in middle.items()}, "fastest": fastest,
            "met": middle[fastest] / ours < 1.05}


# ------------------------------------------------------------------------- 5. crop feed
def large_jpegs(folder, count, size=(1800, 2400)):
    """``count`` large JPEGs (the corpus's photographs enlarged to ``size``, each shifted), as a camera writes."""
    from PIL import Image

    from bench.photos import CORPUS_TRAIN, photograph_file

    photos = [Image.open(photograph_file(name)).convert("RGB").resize(size[::-1]) for name in CORPUS_TRAIN]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        photo = np.roll(np.asarray(photos[i % len(photos)]), 37 * i, axis=1)
        Image.fromarray(photo).save(folder / f"{i:04d}.jpg", quality=90)
    return folder


def crop_feed_rate(batches, count, threads=2):
    """Puzzles/s that ``batches`` makes, ``count`` batches on ``threads`` threads, as a PyDataset's workers would."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        made = sum(len(x) for x, _ in pool.map(lambda i: batches[i], range(count)))
    return made / (time.perf_counter() - started)


def bench_crops(workdir, quick):
    import crops
    from bench.photos import write_corpus
    from training import PuzzleBatches

    grid, size, batch_size = (3, 3), (48, 48), 128
    count = 6 if quick else 24  # batches a round
    write_corpus(workdir / "corpus", seed=0)
    sources = {"corpus": workdir / "corpus" / "train", "large JPEGs": large_jpegs(workdir / "large",
                                                                                  60 if quick else 600)}
    sigma = utils.default_sigma(size, grid)
    feeds = {}
    for name, folder in sources.items():
        files = data.ImageFiles(folder, data.list_images(folder)[0], size, 3)
        feeds[name] = PuzzleBatches(crops.RandomCrops(files, size, 3, per_epoch=batch_size * count),
                                    grid, sigma, batch_size, seed=0)
        feeds[name][0]  # the first decodes
    model = network("transformer", grid, size, 3)
    in_memory = PuzzleBatches(feeds["corpus"].images.draw(0, np.arange(batch_size * 8)), grid, sigma, batch_size, 0)
    model.fit(in_memory, epochs=1, steps_per_epoch=2, verbose=0)  # build and trace outside the timing
    rates = {"training step": [], **{name: [] for name in feeds}}
    for _ in range(2 if quick else 3):  # interleaved, so drift in machine speed hits all
        clock = step_clock()
        model.fit(in_memory, epochs=1, verbose=0, callbacks=[clock])
        rates["training step"].append(batch_size / clock.seconds_per_step())
        for name, batches in feeds.items():
            batches.epoch += 1  # fresh crops, as every epoch draws
            rates[name].append(crop_feed_rate(batches, count))
    best = {name: max(values) for name, values in rates.items()}
    ratios = {name: best[name] / best["training step"] for name in feeds}
    return {"grid": "3x3", "size": size[0], "batch_size": batch_size, "per_s": best, "ratios": ratios,
            "large_jpegs": 60 if quick else 600, "cache_mb": crops.DEFAULT_CACHE_MB, "all_runs": rates,
            "met": min(ratios.values()) >= 1.5}


# ----------------------------------------------------------------------- 6. crop memory
def bench_crop_memory(workdir, quick):
    return peak_rss_over_folders(workdir, (100, 10000) if quick else (1000, 100000), "jpg", 64,
                                 ["--crop", "--crops-per-epoch", "256"])


# ------------------------------------------------------------------------------ tables
NAMES = {"transformer": "default network", "unet": "original U-Net"}


def memory_row(m, command, files):
    """One peak-memory row of the table: ``m`` a section of ``peak_rss_over_folders``."""
    small, large = (m["runs"][str(n)]["peak_rss_mb"] for n in m["files"])
    return (f"| peak RSS of one {command} epoch (default network, 2x2, 32 px) over a folder of {m['files'][0]:,} vs "
            f"{m['files'][1]:,} {files} | {small:,.0f} vs {large:,.0f} MB ({m['ratio']:.2f}x) | ≤ 1.1x | "
            f"{'met' if m['met'] else '**not met**'} |")


def markdown(results):
    """The three sections as one table: what, measured, the goal, met or not, and the CPU."""
    lines = ["| what | measured | goal | |", "|---|---|---|---|"]
    if "streaming" in results:
        s = results["streaming"]
        lines.append(f"| training images/s, default network, {s['grid']} puzzles of {s['size']} px colour images: "
                     f"a folder of {s['images']:,} JPEGs vs the same images in memory | "
                     f"{s['folder_per_s']:,.0f} vs {s['memory_per_s']:,.0f} images/s ({s['ratio']:.2f}x) | "
                     f"{GOALS['streaming']} | {'met' if s['met'] else '**not met**'} |")
    if "memory" in results:
        lines.append(memory_row(results["memory"], "`train.py`", "PNG files"))
    if "colour" in results:
        c = results["colour"]
        for row in c["rows"]:
            lines.append(f"| a training step of the {NAMES[row['network']]}, {c['grid']}, {c['size']} px: 3 channels "
                         f"vs 1 | {1000 * row['colour_step_s']:.0f} vs {1000 * row['gray_step_s']:.0f} ms "
                         f"({row['ratio']:.2f}x) | reported | |")
    if "loader" in results:
        f = results["loader"]
        ours = "PyDataset, 2 worker threads"
        others = [name for name in f["per_s"] if name != ours]
        rates = " / ".join(format(f["per_s"][name], ",.0f") for name in others)
        ratios = " / ".join(format(f["ratios"][name], ".2f") + "x" for name in others)
        lines.append(f"| training images/s, default network, {f['grid']} puzzles from a folder of {f['images']:,} "
                     f"JPEGs of {f['size']} px: train.py's {ours} vs {' / '.join(others)} | "
                     f"{f['per_s'][ours]:,.0f} vs {rates} images/s ({ratios}) | {GOALS['loader']} (within 5 %) | "
                     f"{'met' if f['met'] else '**not met**'} |")
    if "crops" in results:
        c = results["crops"]
        for name, ratio in c["ratios"].items():
            source = ("the corpus's training photographs" if name == "corpus"
                      else f"a folder of {c['large_jpegs']} JPEGs of 2400x1800 px, {c['cache_mb']} MiB of cache")
            lines.append(f"| puzzles/s of the crop feed ({c['grid']}, {c['size']} px crops, 2 threads) from {source} "
                         f"vs what a training step of the default network consumes | {c['per_s'][name]:,.0f} vs "
                         f"{c['per_s']['training step']:,.0f} puzzles/s ({ratio:.2f}x) | ≥ 1.5x | "
                         f"{'met' if ratio >= 1.5 else '**not met**'} |")
    if "crop_memory" in results:
        lines.append(memory_row(results["crop_memory"], "`train.py --crop`", "JPEG photographs"))
    lines.append(f"| the CPU (`utils.cpu_description()`) | {results.get('cpu', 'not recorded')} | | |")
    return "\n".join(lines)


def main(argv=None):
    args = get_args(argv)
    args.json = args.json or str(ROOT / "bench" / ("images-quick.json" if args.quick else "images.json"))
    command = " ".join(["python", "-m", "bench.images", *(argv if argv is not None else sys.argv[1:])])
    results = {"commands": [], "quick": args.quick, "cpu": utils.cpu_description()}
    if args.only and pathlib.Path(args.json).is_file():  # --only: the other sections stay as the file has them
        results = utils.load_json(args.json)
        if results.get("cpu") != utils.cpu_description() or results.get("quick") != args.quick:
            raise ValueError(f"{args.json} was measured on {results.get('cpu')} (quick: {results.get('quick')}): "
                             "measure its sections again together, on one CPU, without --only")
    results["commands"] = [*results.get("commands", []), command]
    with tempfile.TemporaryDirectory() as workdir:
        workdir = pathlib.Path(workdir)
        for name in args.only or SECTIONS:
            started = time.perf_counter()
            if name == "streaming":
                results[name] = bench_streaming(workdir, args.quick)
            elif name == "memory":
                results[name] = bench_memory(workdir, args.quick)
            elif name == "loader":
                results[name] = bench_loader(workdir, args.quick)
            elif name == "crops":
                results[name] = bench_crops(workdir, args.quick)
            elif name == "crop_memory":
                results[name] = bench_crop_memory(workdir, args.quick)
            else:
                results[name] = bench_colour(args.quick)
            print(f"[{name}: {time.perf_counter() - started:.0f} s]", flush=True)
    print(markdown(results))
    utils.save_json(results, args.json)
    print(f"written to {args.json}")


if __name__ == "__main__":
    run_script("bench.images", main)
