"""Speed and memory of the jigsaw pipeline, each figure a ratio against a baseline run here.

    python -m bench.bench --quick                             # under a minute
    python -m bench.bench --data path/to/mnist.npz            # the full run

(Run from the repository root: ``-m`` puts it on the path, so the project's modules import.)

Prints one table and writes it as JSON (--json; default bench/results.json, or
bench/results-quick.json with --quick, so a quick run never replaces the full results):

1. prep: shuffled puzzles + heatmap targets per second, our batched numpy pipeline vs a
   reference made the original MNIST port's way (per image, Python loops, float64 maps,
   all materialised; our re-implementation of that approach, not its code).
2. pipeline: training digits/s of the original U-Net fed by train.py's own PuzzleBatches
   vs the same model fed the same batches from arrays already in memory.
3. memory: peak RSS of whole train.py processes (one epoch on the full training set) at
   2x2 and 7x7, read with os.wait4 by a small go-between process.
4. evaluation: puzzles/s of decoding (both methods) + reassembly + metrics at 2x2 and 7x7
   on 10,000 test digits, and the wall time of the whole evaluate.py at 7x7.
5. time to accuracy (full mode only): train.py at 2x2 (--arch, default settings), the
   epochs until the validation exact rate first reaches 99.9 % (read from log.csv, with
   their wall time), then evaluate.py on the test split.
6. cost: seconds per training step (batch 128, PuzzleBatches feeding model.fit, as in
   train.py) of the default network against the original U-Net at every grid from 2x2 to
   7x7, interleaved round by round in this process; an epoch of either is the same number
   of steps, so the ratio is the ratio of their epochs' training.

Timings on a shared machine drift; ratios are taken between runs made in this process
and command, interleaved and repeated, so a drift hits both sides.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np

import run_folder
import utils
from cli import run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]

GOALS = {
    "prep": "ours >= 10x the reference at every grid",
    "pipeline": "PuzzleBatches >= 0.95x in-memory arrays",
    "memory": "<= 1.5 GB at 2x2, <= 2 GB at 7x7, 7x7 <= 1.3x 2x2",
    "evaluation": "evaluate.py on 10k test digits at 7x7 < 60 s",
    "time_to_accuracy": "val exact >= 99.9 % within 2 epochs at 2x2",
    "cost": "a training step of the default network <= 2x the original U-Net's at every grid",
}


# train.py settings of each network the train.py sections can run: the original port's U-Net
# with its loss and schedule, or train.py's default network with its own. Spelled out in full,
# so that a stored command says what it trained.
NETWORKS = {arch: {"arch": arch, **run_folder.NETWORK_DEFAULTS[arch]} for arch in ("unet", "transformer")}


def network_flags(arch):
    """The train.py flags of a network of ``NETWORKS``: ``["--arch", "unet", ...]``."""
    return [text for key, value in NETWORKS[arch].items() for text in (run_folder.flag(key), str(value))]


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute; figures indicative only")
    parser.add_argument(
        "--data", default="sample", help="MNIST source as for train.py (default: the bundled sample, indicative only)"
    )
    parser.add_argument(
        "--json",
        default=None,
        help="where to write the results (default bench/results.json; with --quick, bench/results-quick.json)",
    )
    parser.add_argument("--only", nargs="+", choices=list(GOALS), help="run only these sections")
    parser.add_argument(
        "--arch",
        default="transformer",
        choices=list(NETWORKS),
        help="network of the train.py runs in sections 3 and 5: 'transformer', train.py's default network "
        "(default), or 'unet', the original U-Net",
    )
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------ 1. prep
def reference_prepare(images, grid, sigma, seed):
    """The original port's way: per image and per piece in Python, float64, all kept.

    Returns:
        ``(shuffled, heatmaps, permutation)``: ``(N, H, W)`` and ``(N, H, W, K)`` float64,
        ``(N, K)`` ints; the same content our pipeline makes for that permutation.
    """
    rows, cols = grid
    n = len(images)
    height, width = utils.padded_shape(images.shape[1:], grid)
    ph, pw = height // rows, width // cols
    padded = utils.pad_to_grid(images, grid).astype(np.float64)
    shuffled = np.zeros((n, height, width), np.float64)
    heatmaps = np.zeros((n, height, width, rows * cols), np.float64)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    permutations = np.zeros((n, rows * cols), np.int64)
    for i in range(n):
        permutation = permutations[i] = rng.permutation(rows * cols)
        for slot, piece in enumerate(permutation):
            sr, sc = divmod(slot, cols)
            pr, pc = divmod(int(piece), cols)
            shuffled[i, sr * ph : (sr + 1) * ph, sc * pw : (sc + 1) * pw] = padded[
                i, pr * ph : (pr + 1) * ph, pc * pw : (pc + 1) * pw
            ]
            cy, cx = (sr + 0.5) * ph - 0.5, (sc + 0.5) * pw - 0.5
            heatmaps[i, :, :, piece] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return shuffled, heatmaps, permutations


def our_prepare(images, grid, sigma, seed, batch_size=128):
    """What PuzzleBatches does: one batch at a time, uint8 puzzles, float32 maps."""
    for start in range(0, len(images), batch_size):
        shuffled, permutation = utils.shuffle_pieces(images[start : start + batch_size], grid, [seed, start])
        utils.to_model_input(shuffled)
        utils.make_heatmaps(permutation, grid, shuffled.shape[1:3], sigma)


def bench_prep(x_train, quick):
    n = 300 if quick else 2000
    rows = []
    for g in (2, 4, 7):
        grid = (g, g)
        sigma = utils.default_sigma(x_train.shape[1:], grid)
        digits = x_train[:n]
        ours = best_rate(lambda digits=digits, grid=grid, sigma=sigma: our_prepare(digits, grid, sigma, 0), n)
        reference = best_rate(
            lambda digits=digits, grid=grid, sigma=sigma: reference_prepare(digits, grid, sigma, 0),
            n,
            repeats=1 if not quick else 2,
        )
        rows.append(
            {
                "grid": f"{g}x{g}",
                "digits": n,
                "ours_per_s": ours,
                "reference_per_s": reference,
                "ratio": ours / reference,
            }
        )
    return {"rows": rows, "met": all(r["ratio"] >= 10 for r in rows)}


def best_rate(work, count, repeats=3):
    """Items per second of ``work`` (which handles ``count`` items), best of ``repeats``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return count / min(times)


# -------------------------------------------------------------------------- 2. pipeline
def bench_pipeline(x_train, quick):
    import keras

    from model_utils import build_unet
    from training import PuzzleBatches

    grid, batch_size = (2, 2), 128
    steps = 20 if quick else 120
    digits = x_train[: steps * batch_size]
    sigma = utils.default_sigma(x_train.shape[1:], grid)
    batches = PuzzleBatches(digits, grid, sigma, batch_size, seed=0)
    inputs, targets = (np.concatenate(parts) for parts in zip(*(batches[i] for i in range(len(batches))), strict=True))
    keras.utils.set_random_seed(0)
    model = build_unet((28, 28, 1), 4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(inputs[: 5 * batch_size], targets[: 5 * batch_size], batch_size=batch_size, verbose=0)  # build, trace
    model.fit(batches, epochs=1, steps_per_epoch=5, verbose=0)
    rates = {"pipeline": [], "arrays": []}
    for _ in range(2 if quick else 3):  # interleaved, so drift in machine speed hits both
        for name in rates:
            started = time.perf_counter()
            if name == "pipeline":
                model.fit(batches, epochs=1, verbose=0)
            else:
                model.fit(inputs, targets, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
            rates[name].append(len(digits) / (time.perf_counter() - started))
    best = {name: max(values) for name, values in rates.items()}
    ratio = best["pipeline"] / best["arrays"]
    return {
        "digits": len(digits),
        "pipeline_per_s": best["pipeline"],
        "arrays_per_s": best["arrays"],
        "ratio": ratio,
        "all_runs": rates,
        "met": ratio >= 0.95,
    }


# ---------------------------------------------------------------------------- 3. memory
# A small Python process between this one and the measured command: a child forked from
# this big process (TensorFlow, data) would start with this process's resident pages
# counted in its peak RSS, which survives exec; forked from the small one, it does not.
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
print(f"peak_rss_kib={usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(args, cwd=None):
    """Runs a command; returns (exit code, wall seconds, its peak RSS in MB, output)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    seconds = time.perf_counter() - started
    peak = [line for line in result.stderr.splitlines() if line.startswith("peak_rss_kib=")]
    peak_mb = int(peak[-1].split("=")[1]) / 1024 if peak else float("nan")  # ru_maxrss is in KiB on Linux
    return result.returncode, seconds, peak_mb, result.stdout + result.stderr


def train_command(data, grid, out, arch, extra=()):
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "--data",
        data,
        "--grid",
        str(grid),
        "--out",
        str(out),
        "--quiet",
        *network_flags(arch),
        *extra,
    ]


def bench_memory(data, quick, workdir, arch):
    rows = {}
    for g in (2, 7):
        extra = ["--epochs", "1"] + (["--train-size", "1000", "--val-size", "500"] if quick else [])
        code, seconds, peak_mb, output = run_measured(train_command(data, g, workdir / f"memory-{g}x{g}", arch, extra))
        if code != 0:
            raise RuntimeError(f"train.py at {g}x{g} failed:\n{output[-2000:]}")
        rows[f"{g}x{g}"] = {"peak_rss_mb": peak_mb, "seconds": seconds}
    ratio = rows["7x7"]["peak_rss_mb"] / rows["2x2"]["peak_rss_mb"]
    met = rows["2x2"]["peak_rss_mb"] <= 1500 and rows["7x7"]["peak_rss_mb"] <= 2000 and ratio <= 1.3
    return {
        "runs": rows,
        "ratio_7x7_to_2x2": ratio,
        "met": met,
        "epochs": 1,
        "train_digits": "1000 (quick)" if quick else "all",
    }


# ------------------------------------------------------------------------ 4. evaluation
def bench_evaluation(x_test, data, quick, workdir):
    n = 1000 if quick else len(x_test)
    rows = []
    rng = np.random.default_rng(0)
    for g in (2, 7):
        grid = (g, g)
        digits = x_test[:n]
        shuffled, permutation = utils.shuffle_pieces(digits, grid, 0)
        seconds = 0.0
        for start in range(0, n, 256):  # per batch, as evaluate.py: heatmaps never all held
            stop = min(start + 256, n)
            heatmaps = utils.make_heatmaps(permutation[start:stop], grid, shuffled.shape[1:3])
            heatmaps += rng.normal(0, 0.3, heatmaps.shape).astype(np.float32)  # a noisy network's output
            started = time.perf_counter()  # timed: decoding, reassembly and metrics only
            for method in utils.DECODE_METHODS:
                decoded = utils.decode_heatmaps(heatmaps, grid, method)
                utils.jigsaw_scores(digits[start:stop], shuffled[start:stop], permutation[start:stop], decoded, grid)
            seconds += time.perf_counter() - started
        rows.append({"grid": f"{g}x{g}", "puzzles": n, "puzzles_per_s": n / seconds})
    code, seconds, peak_mb, output = run_measured(
        [sys.executable, str(ROOT / "evaluate.py"), "--model", str(workdir / "memory-7x7"), "--data", data]
        + (["--num", str(n)] if quick else [])
    )
    if code != 0:
        raise RuntimeError(f"evaluate.py failed:\n{output[-2000:]}")
    return {
        "decode_and_score": rows,
        "evaluate_7x7_seconds": seconds,
        "evaluate_7x7_peak_rss_mb": peak_mb,
        "puzzles": n,
        "met": seconds < 60,
    }


# ------------------------------------------------------------------ 5. time to accuracy
def bench_time_to_accuracy(data, workdir, arch, target=0.999, budget_epochs=2):
    out = workdir / "accuracy-2x2"
    code, seconds, _, output = run_measured(train_command(data, 2, out, arch))
    if code != 0:
        raise RuntimeError(f"train.py failed:\n{output[-2000:]}")
    log = run_folder.read_log(out)
    reached = next((i for i, exact in enumerate(log["val_exact"]) if exact >= target), None)
    code, _, _, output = run_measured([sys.executable, str(ROOT / "evaluate.py"), "--model", str(out), "--data", data])
    if code != 0:
        raise RuntimeError(f"evaluate.py failed:\n{output[-2000:]}")
    test = utils.load_json(out / run_folder.METRICS)
    return {
        "target_val_exact": target,
        "reached_at_epoch": None if reached is None else reached + 1,
        "seconds_to_target": None if reached is None else log["seconds"][reached],
        "best_val_exact": max(log["val_exact"]),
        "train_wall_seconds": seconds,
        "test_exact": test["exact"],
        "met": reached is not None and reached + 1 <= budget_epochs,
    }


# ------------------------------------------------------------------------------ 6. cost
def step_clock():
    """A Keras callback timing the seconds per step between the ends of a fit's first and last batches.

    What fit() spends once per call (adapting the data, starting and stopping its iterator) is
    left out; the making of the batches is kept.
    """
    import keras

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

        def seconds_per_step(self):
            return (self.ends[-1] - self.ends[0]) / (len(self.ends) - 1)

    return StepClock()


def network(arch, grid, shape, channels=1):
    """A compiled network of ``NETWORKS`` for ``grid`` puzzles of ``shape`` px and ``channels``, seeded with 0."""
    import keras

    from model_utils import KERAS_LOSSES, build_network

    config = {**run_folder.DEFAULTS, **NETWORKS[arch], "grid": list(grid), "puzzle_shape": list(shape),
              "num_pieces": grid[0] * grid[1], "channels": channels}
    keras.utils.set_random_seed(0)
    model = build_network(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=KERAS_LOSSES[config["loss"]])
    return model


def bench_cost(x_train, quick):
    from training import PuzzleBatches

    steps, rounds = (4, 2) if quick else (25, 3)
    rows = []
    for g in (2, 7) if quick else (2, 3, 4, 5, 6, 7):
        grid = (g, g)
        shape = utils.padded_shape(x_train.shape[1:], grid)
        sigma = utils.default_sigma(x_train.shape[1:], grid)
        batches = PuzzleBatches(x_train[: (steps + 2) * 128], grid, sigma, 128, seed=0)
        models = {}
        for arch in ("transformer", "unet"):
            model = network(arch, grid, shape)
            model.fit(batches, epochs=1, steps_per_epoch=2, verbose=0)  # build and trace outside the timing
            models[arch] = model
        seconds = {arch: [] for arch in models}
        for _ in range(rounds):  # interleaved, so drift in machine speed hits both
            for arch, model in models.items():
                clock = step_clock()
                model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
                seconds[arch].append(clock.seconds_per_step())
        best = {arch: min(values) for arch, values in seconds.items()}
        rows.append({"grid": f"{g}x{g}", "default_step_s": best["transformer"], "unet_step_s": best["unet"],
                     "ratio": best["transformer"] / best["unet"], "all_runs": seconds})
    return {"steps_per_round": steps, "rounds": rounds, "rows": rows, "met": all(r["ratio"] <= 2 for r in rows)}


# ------------------------------------------------------------------------------- tables
NETWORK_NAMES = {"unet": "original U-Net", "transformer": "default network"}
WHAT = {
    "prep": "data preparation, puzzles + heatmap targets per second, ours vs the original port's way",
    "pipeline": "input pipeline, training digits/s: `PuzzleBatches` vs the same batches from arrays in memory",
    "memory": "peak RSS of a whole `train.py` process, one epoch on every training digit",
    "evaluation": "decoding (both methods) + reassembly + metrics on the test puzzles; whole `evaluate.py` at 7x7",
    "time_to_accuracy": "time to accuracy: `train.py` at 2x2 until validation exact first reaches 99.9 %",
}


def measured(name, section):
    """What a section of a results file measured, in a few words."""
    if name == "prep":
        return "; ".join(f"{r['grid']}: {r['ours_per_s']:,.0f} vs {r['reference_per_s']:,.0f}/s ({r['ratio']:.1f}x)"
                         for r in section["rows"])
    if name == "pipeline":
        return (f"{section['pipeline_per_s']:,.0f} vs {section['arrays_per_s']:,.0f} digits/s "
                f"({section['ratio']:.2f}x)")
    if name == "memory":
        runs = section["runs"]
        return (f"2x2: {runs['2x2']['peak_rss_mb']:,.0f} MB; 7x7: {runs['7x7']['peak_rss_mb']:,.0f} MB "
                f"({section['ratio_7x7_to_2x2']:.2f}x)")
    if name == "evaluation":
        rates = "; ".join(f"{r['grid']}: {r['puzzles_per_s']:,.0f} puzzles/s" for r in section["decode_and_score"])
        return (f"{rates}; `evaluate.py` 7x7: {section['evaluate_7x7_seconds']:.1f} s "
                f"(peak {section['evaluate_7x7_peak_rss_mb']:,.0f} MB)")
    if section["reached_at_epoch"] is None:
        return (f"not reached: best {100 * section['best_val_exact']:.2f} %; "
                f"test exact {100 * section['test_exact']:.2f} %")
    return (f"epoch {section['reached_at_epoch']} ({section['seconds_to_target']:.0f} s); best "
            f"{100 * section['best_val_exact']:.2f} %; test exact {100 * section['test_exact']:.2f} %")


def speed_markdown(results):
    """A results file's sections but cost as one table: what, measured, the goal, met or not."""
    network = NETWORK_NAMES[results.get("arch", "unet")]
    lines = [f"| what ({network}) | measured | goal | |", "|---|---|---|---|"]
    for name in WHAT:
        if name in results:
            verdict = "met" if results[name]["met"] else "**not met**"
            lines.append(f"| {WHAT[name]} | {measured(name, results[name])} | {GOALS[name]} | {verdict} |")
    lines.append(f"| the CPU (`utils.cpu_description()`) | {results.get('cpu', 'not recorded')} | | |")
    return "\n".join(lines)


def cost_markdown(results):
    """The cost section as a table: ms a step of each network at every grid, and their ratio."""
    rows = results["cost"]["rows"]
    lines = ["| grid | " + " | ".join(r["grid"] for r in rows) + " |", "|---|" + "---|" * len(rows),
             "| default network, ms a step | " + " | ".join(f"{1000 * r['default_step_s']:.0f}" for r in rows) + " |",
             "| original U-Net, ms a step | " + " | ".join(f"{1000 * r['unet_step_s']:.0f}" for r in rows) + " |",
             "| ratio (goal ≤ 2x) | " + " | ".join(f"{r['ratio']:.2f}x" for r in rows) + " |",
             f"| the CPU | {results.get('cpu', 'not recorded')} |" + " |" * (len(rows) - 1)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- report
def report(results):
    lines = []
    if "prep" in results:
        for row in results["prep"]["rows"]:
            lines.append(
                f"prep {row['grid']:>4}         ours {row['ours_per_s']:>10,.0f}/s   "
                f"reference {row['reference_per_s']:>8,.0f}/s   {row['ratio']:>7.1f}x"
            )
    if "pipeline" in results:
        p = results["pipeline"]
        lines.append(
            f"pipeline 2x2      batches {p['pipeline_per_s']:>7,.0f} digits/s   "
            f"arrays {p['arrays_per_s']:>7,.0f} digits/s   {p['ratio']:>6.2f}x"
        )
    if "memory" in results:
        m = results["memory"]
        lines.append(
            "memory            "
            + "   ".join(f"{grid} {run['peak_rss_mb']:,.0f} MB" for grid, run in m["runs"].items())
            + f"   7x7/2x2 {m['ratio_7x7_to_2x2']:.2f}x"
        )
    if "evaluation" in results:
        e = results["evaluation"]
        lines.append(
            "evaluation        "
            + "   ".join(f"{row['grid']} {row['puzzles_per_s']:,.0f} puzzles/s" for row in e["decode_and_score"])
            + f"   evaluate.py 7x7 on {e['puzzles']:,}: {e['evaluate_7x7_seconds']:.1f} s"
        )
    if "time_to_accuracy" in results:
        t = results["time_to_accuracy"]
        when = (
            "not reached"
            if t["seconds_to_target"] is None
            else f"{t['seconds_to_target']:.0f} s (epoch {t['reached_at_epoch']})"
        )
        lines.append(
            f"time to accuracy  val exact 99.9 %: {when}; best {100 * t['best_val_exact']:.2f} %; "
            f"test exact {100 * t['test_exact']:.2f} %"
        )
    if "cost" in results:
        lines.append(
            "cost, default/U-Net step  "
            + "   ".join(f"{row['grid']} {1000 * row['default_step_s']:.0f}/{1000 * row['unet_step_s']:.0f} ms "
                         f"{row['ratio']:.2f}x" for row in results["cost"]["rows"])
        )
    for name, value in results.items():
        if isinstance(value, dict) and "met" in value:
            lines.append(f"  goal {name}: {GOALS[name]}: {'met' if value['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv=None):
    args = get_args(argv)
    args.json = args.json or str(ROOT / "bench" / ("results-quick.json" if args.quick else "results.json"))
    sections = args.only or [name for name in GOALS if not (args.quick and name == "time_to_accuracy")]
    if "evaluation" in sections and "memory" not in sections:
        sections.insert(0, "memory")  # evaluation scores the 7x7 model the memory run trains
    (x_train, _), (x_test, _) = utils.load_mnist(args.data)
    results = {
        "command": " ".join(["python", "-m", "bench.bench", *(argv if argv is not None else sys.argv[1:])]),
        "data": args.data,
        "quick": args.quick,
        "arch": args.arch,
        "cpu": utils.cpu_description(),  # every timing here is a ratio, but their sizes belong to this CPU
    }
    if args.data == "sample" or args.quick:
        print("note: quick mode or the bundled sample: figures are indicative only")
    with tempfile.TemporaryDirectory() as workdir:
        workdir = pathlib.Path(workdir)
        for name in GOALS:
            if name not in sections:
                continue
            started = time.perf_counter()
            if name == "prep":
                results[name] = bench_prep(x_train, args.quick)
            elif name == "pipeline":
                results[name] = bench_pipeline(x_train, args.quick)
            elif name == "memory":
                results[name] = bench_memory(args.data, args.quick, workdir, args.arch)
            elif name == "evaluation":
                results[name] = bench_evaluation(x_test, args.data, args.quick, workdir)
            elif name == "time_to_accuracy":
                results[name] = bench_time_to_accuracy(args.data, workdir, args.arch)
            else:
                results[name] = bench_cost(x_train, args.quick)
            print(f"[{name}: {time.perf_counter() - started:.0f} s]", flush=True)
    print(report(results))
    utils.save_json(results, args.json)
    print(f"written to {args.json}")


if __name__ == "__main__":
    run_script("bench.py", main)
