"""Training speed of the levers a Keras user would try, each against the default, in one process.

    python -m bench.levers [--steps 60] [--json bench/levers.json]
    python -m bench.levers --threads [--json bench/threads.json]

Every lever trains the original 2x2 U-Net (--arch unet) on the same PuzzleBatches for
--steps steps; the rounds are interleaved (baseline, lever, baseline, lever, ...) and the best round of each
is kept, so drift in the machine's speed hits all of them alike. Digits per second only:
whether a lever also learns as well is a separate question (see docs/benchmarks.md).

TensorFlow's thread pools are fixed once it starts, so --threads measures them in child
processes instead: each setting of (intra-op, inter-op) threads trains the default lever
in a fresh process, the settings interleaved round by round; a child's start-up and
warm-up steps are not timed.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import utils
from cli import run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]

LEVERS = {
    "default (batch 128)": {},
    "batch 64": {"batch_size": 64},
    "batch 256": {"batch_size": 256},
    "jit_compile (XLA)": {"jit_compile": True},
    "mixed_bfloat16": {"policy": "mixed_bfloat16"},
    "PyDataset, 2 worker threads": {"workers": 2},
}

# Whether each lever became a default, and why: the verdicts beside the figures of levers.json.
KEPT = {
    "default (batch 128)": "yes",
    "batch 64": "no",
    "batch 256": "no: no faster, and fewer steps per epoch",
    "jit_compile (XLA)": "not by default: Keras leaves XLA off on CPU; how it learns is not measured",
    "mixed_bfloat16": "no: it learns as well (docs/benchmarks.md), but a CPU without bfloat16 arithmetic is slower",
    "PyDataset, 2 worker threads": "no: making batches is not the bottleneck",
}


def markdown(levers, threads):
    """The levers table from levers.json and threads.json: digits/s, the ratio to the default, the verdict."""
    lines = ["| lever | digits/s | vs default | kept? |", "|---|---|---|---|"]
    for name, verdict in KEPT.items():
        row = levers[name]
        lines.append(f"| {name} | {row['digits_per_s']:,.0f} | {row['ratio']:.2f}x | {verdict} |")
    settings = [name for name in threads if name not in RECORD_KEYS]
    lines.append(f"| TensorFlow threads: {' / '.join(settings[1:])} vs {settings[0]} | "
                 + " / ".join(f"{threads[name]['digits_per_s']:,.0f}" for name in settings[1:])
                 + f" vs {threads[settings[0]]['digits_per_s']:,.0f} | "
                 + " / ".join(f"{threads[name]['ratio']:.2f}x" for name in settings[1:])
                 + " | no: the default already uses both cores |")
    cpus = sorted({results.get("cpu", "not recorded") for results in (levers, threads)})
    lines.append(f"| the CPU | {' / '.join(cpus)} | | |")
    return "\n".join(lines)


def make_trainer(data, steps, batch_size=128, jit_compile=False, policy="float32", workers=1):
    """Returns a function that trains one round and returns digits/s."""
    import keras  # here, so that the levers table (markdown) is made without TensorFlow

    from model_utils import build_unet
    from training import PuzzleBatches

    keras.utils.set_random_seed(0)
    grid = (2, 2)
    digits = data[: steps * batch_size]
    batches = PuzzleBatches(digits, grid, utils.default_sigma((28, 28), grid), batch_size, seed=0)
    batches.workers = workers
    model = build_unet((28, 28, 1), 4, dtype_policy=policy)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit_compile)
    model.fit(batches, epochs=1, steps_per_epoch=3, verbose=0)  # trace and compile first

    def train_round():
        started = time.perf_counter()
        model.fit(batches, epochs=1, verbose=0)
        return len(digits) / (time.perf_counter() - started)

    return train_round


# What a levers.json or threads.json records beside its rows: how it was made and on which CPU.
RECORD_KEYS = ("command", "cpu")

# (intra-op, inter-op) threads; 0 lets TensorFlow choose (one per core), its default.
THREADS = [(0, 0), (1, 1), (2, 1), (1, 2), (2, 2), (4, 2)]


def measure_threads(args):
    """Digits/s of the default lever under each thread setting, interleaved child processes."""
    rates = {setting: [] for setting in THREADS}
    for _ in range(args.rounds):
        for intra, inter in THREADS:
            child = [
                sys.executable,
                "-m",
                "bench.levers",
                "--data",
                args.data,
                "--steps",
                str(args.steps),
                "--child-threads",
                str(intra),
                str(inter),
            ]
            result = subprocess.run(child, capture_output=True, text=True, cwd=ROOT, check=False)
            if result.returncode:
                raise RuntimeError(f"levers.py child ({intra}, {inter} threads) failed:\n{result.stderr[-2000:]}")
            rates[(intra, inter)].append(json.loads(result.stdout.strip().splitlines()[-1])["digits_per_s"])
    base = max(rates[(0, 0)])
    return {
        f"intra {intra}, inter {inter}" if intra else "TensorFlow's default (one per core)": {
            "digits_per_s": max(values),
            "ratio": max(values) / base,
            "rounds": values,
        }
        for (intra, inter), values in rates.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--data", default="sample", help="MNIST source (default: the bundled sample)")
    parser.add_argument("--steps", type=int, default=60, help="training steps per round (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per lever (default 3)")
    parser.add_argument(
        "--threads",
        action="store_true",
        help="measure TensorFlow's thread settings instead (default --json bench/threads.json)",
    )
    parser.add_argument("--child-threads", nargs=2, type=int, metavar=("INTRA", "INTER"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--json", default=None, help="where to write the results (default bench/levers.json, or bench/threads.json)"
    )
    args = parser.parse_args(argv)
    args.json = args.json or str(ROOT / "bench" / ("threads.json" if args.threads else "levers.json"))
    if args.threads:
        results = measure_threads(args)
    else:
        (x_train, _), _ = utils.load_mnist(args.data)
        need = args.steps * 256
        data = np.resize(x_train, (need, *x_train.shape[1:])) if len(x_train) < need else x_train
        if args.child_threads:  # one setting, one round, for measure_threads
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(args.child_threads[0])
            tf.config.threading.set_inter_op_parallelism_threads(args.child_threads[1])
            print(json.dumps({"digits_per_s": make_trainer(data, args.steps)()}))
            return
        trainers = {name: make_trainer(data, args.steps, **settings) for name, settings in LEVERS.items()}
        rates = {name: [] for name in LEVERS}
        for _ in range(args.rounds):
            for name, train_round in trainers.items():
                rates[name].append(train_round())
        base = max(rates["default (batch 128)"])
        results = {
            name: {"digits_per_s": max(values), "ratio": max(values) / base, "rounds": values}
            for name, values in rates.items()
        }
    for name, row in results.items():
        print(f"{name:<36} {row['digits_per_s']:>7.0f} digits/s   {row['ratio']:.2f}x")
    utils.save_json(
        {"command": "python -m bench.levers " + " ".join(argv if argv is not None else sys.argv[1:]),
         "cpu": utils.cpu_description(), **results},
        args.json,
    )
    print(f"written to {args.json}")


if __name__ == "__main__":
    run_script("levers.py", main)
