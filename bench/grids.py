"""The results table: every grid from 2x2 to 7x7, our default network, the original U-Net and the border solver.

    python -m bench.grids --data path/to/mnist.npz            # every row, hours
    python -m bench.grids --data path/to/mnist.npz --only transformer-4x4

Each row is one train.py command (printed, and stored in the JSON) followed by
evaluate.py on all 10,000 MNIST test digits (hungarian decoding, shuffle seed 0). Rows run
one after another, never side by side, so their training times mean something. A row
whose run folder already holds metrics.json is read, not retrained; --retrain forces it.
The border solver's rows (``border-NxN``) train nothing: one ``evaluate.py --decode border``
command each, on the same puzzles. The table is written as JSON (--json, default
bench/grids.json) and printed as Markdown for docs/results.md (python -m bench.tables writes it there).
"""

import os
import pathlib
import subprocess
import sys
import time

import run_folder
import utils
from bench.bench import network_flags
from cli import CleanArgumentParser, run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]

# name -> (grid, epochs, extra train.py flags). The original U-Net rows use the original
# port's network and loss and no warm-up, the same flags as bench.py's U-Net runs.
ORIGINAL = network_flags("unet")
ROWS = {
    "transformer-2x2": (2, 4, []),
    "transformer-3x3": (3, 8, []),
    "transformer-4x4": (4, 20, []),
    "transformer-5x5": (5, 20, []),
    "transformer-6x6": (6, 20, []),
    "transformer-7x7": (7, 20, []),
    "unet-2x2": (2, 5, ORIGINAL),
    "unet-3x3": (3, 3, ORIGINAL),
    "unet-4x4": (4, 3, ORIGINAL),
    "unet-7x7": (7, 3, ORIGINAL),
    **{f"border-{n}x{n}": (n, 0, None) for n in range(2, 8)},  # None: no network, nothing trained
}


# The grid goals for the default network, within each row's budget of epochs (so that they mean
# the same on every CPU): name -> {metric: (least rate, also at least the original U-Net's row)}.
GOALS = {
    "transformer-2x2": {"exact": (0.9995, "unet-2x2")},
    "transformer-3x3": {"exact": (0.995, None)},
    "transformer-4x4": {"exact": (0.98, None)},
    "transformer-5x5": {},
    "transformer-6x6": {},
    "transformer-7x7": {"exact": (0.85, None), "pieces": (0.97, None)},
}
NETWORK_NAMES = {"transformer": "piece transformer (default)", "unet": "original U-Net",
                 "border": "border solver (learns nothing)"}


def get_args(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="grids.py")
    parser.add_argument(
        "--data", default="sample", help="MNIST source as for train.py (default: the bundled sample, indicative only)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(ROWS), help="run only these rows (default: all, in table order)"
    )
    parser.add_argument("--runs", default="runs/grids", help="folder of the rows' run folders (default runs/grids)")
    parser.add_argument(
        "--json",
        default=str(ROOT / "bench" / "grids.json"),
        help="results file, updated row by row (default bench/grids.json)",
    )
    parser.add_argument("--retrain", action="store_true", help="train rows again even if their run folder is complete")
    return parser.parse_args(argv)


def commands(name, data, runs):
    """The train.py and evaluate.py commands of one row, as argument lists."""
    grid, epochs, extra = ROWS[name]
    out = str(pathlib.Path(runs) / name)
    if extra is None:  # the border solver: nothing to train
        return None, ["python", "evaluate.py", "--decode", "border", "--data", data, "--grid", str(grid),
                      "--metrics", f"{out}/{run_folder.METRICS}", "--plot", f"{out}/reassembled.png"]
    train = ["python", "train.py", "--data", data, "--grid", str(grid), "--epochs", str(epochs), *extra, "--out", out]
    evaluate = ["python", "evaluate.py", "--model", out, "--data", data, "--plot", f"{out}/reassembled.png"]
    return train, evaluate


def run_row(name, data, runs, retrain):
    train, evaluate = commands(name, data, runs)
    folder = pathlib.Path(runs) / name
    if train is None:
        return border_row(name, evaluate, folder, retrain)
    if retrain or not (folder / run_folder.METRICS).is_file():
        staging = run_folder.staging_folder(folder)
        if staging.exists():
            # Resuming would time only the rest of the run: a row's training time needs one whole run.
            raise ValueError(f"row {name}: {staging} holds an interrupted run; delete it to train the row again")
        started = time.perf_counter()
        run([*train, "--quiet", "--overwrite"])
        wall = time.perf_counter() - started
        utils.save_json({"wall_seconds": round(wall, 1), "cpu": utils.cpu_description()}, folder / "wall.json")
        run(evaluate)
    test = utils.load_json(folder / run_folder.METRICS)
    val = utils.load_json(folder / run_folder.VAL_METRICS)
    return {
        "grid": test["grid"],
        "epochs": ROWS[name][1],
        **{key: test[key] for key in utils.METRIC_NAMES},
        "train_seconds": val["train_seconds"],
        "wall_seconds": utils.load_json(folder / "wall.json")["wall_seconds"],
        "cpu": utils.load_json(folder / "wall.json").get("cpu", "not recorded"),
        "parameters": val["parameters"],
        "train_command": " ".join(train),
        "evaluate_command": " ".join(evaluate),
    }


def border_row(name, evaluate, folder, retrain):
    """A border solver's row: its evaluate.py command, run unless its metrics are there."""
    if retrain or not (folder / run_folder.METRICS).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        run(evaluate)
        utils.save_json({"wall_seconds": round(time.perf_counter() - started, 1), "cpu": utils.cpu_description()},
                        folder / "wall.json")
    test = utils.load_json(folder / run_folder.METRICS)
    wall = utils.load_json(folder / "wall.json")
    return {"grid": test["grid"], "epochs": 0, **{key: test[key] for key in utils.METRIC_NAMES},
            "train_seconds": 0.0, "wall_seconds": wall["wall_seconds"], "parameters": 0,
            "ms_per_puzzle": test["border"]["ms_per_puzzle"], "beam": test["border"]["beam"], "cpu": wall["cpu"],
            "evaluate_command": " ".join(evaluate)}


def run(command):
    print("$", " ".join(command), flush=True)
    result = subprocess.run(
        [sys.executable, *command[1:]], cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"}, check=False
    )
    if result.returncode:
        # ChildProcessError is an OSError: run_script ends the bench in this one line (the script said why above).
        raise ChildProcessError(f"{command[1]} failed (exit {result.returncode}): {' '.join(command)}")


def markdown(results):
    """The full results table: every row of ``results`` (bench/grids.json), every metric, time and size."""
    lines = [
        "| network | grid | epochs | exact | pieces | permutation | τ | training | parameters |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results.items():
        network = NETWORK_NAMES[name.split("-")[0]]
        minutes, seconds = divmod(round(row["train_seconds"]), 60)
        # The border solver trains nothing: its time is its decoding's, per puzzle.
        training = (f"{minutes} min {seconds:02d} s" if row["epochs"]
                    else f"none ({row['ms_per_puzzle']:.1f} ms a puzzle)")
        lines.append(
            f"| {network} | {row['grid'][0]}x{row['grid'][1]} | {row['epochs'] or '–'} | {100 * row['exact']:.2f} % | "
            f"{100 * row['pieces']:.2f} % | {100 * row['permutation']:.2f} % | {row['kendall_tau']:.4f} | "
            f"{training} | {row['parameters']:,} |"
        )
    return "\n".join(lines)


def short_markdown(results):
    """The README's results table: network, grid, epochs, exact and pieces of every network's row.

    The border solver's rows stay in the full table (``markdown``): the front page shows the networks.
    """
    lines = ["| network | grid | epochs | exact | pieces |", "|---|---|---|---|---|"]
    for name, row in results.items():
        if not row["epochs"]:
            continue
        lines.append(f"| {NETWORK_NAMES[name.split('-')[0]]} | {row['grid'][0]}x{row['grid'][1]} | "
                     f"{row['epochs']} | {100 * row['exact']:.2f} % | {100 * row['pieces']:.2f} % |")
    return "\n".join(lines)


def goals_markdown(results):
    """The grid goals against the measured rows: each goal with its figure and whether it was met."""
    lines = ["| grid | epochs | exact: goal | exact: measured | pieces: goal | pieces: measured |",
             "|---|---|---|---|---|---|"]
    for name, goals in GOALS.items():
        row = results[name]
        cells = []
        for metric in ("exact", "pieces"):
            measured = f"{100 * row[metric]:.2f} %"
            if metric not in goals:
                cells += ["report", measured]
                continue
            least, beside = goals[metric]
            goal = f"≥ {100 * least:g} %"
            met = row[metric] >= least
            if beside:
                goal += f" and ≥ the original U-Net ({100 * results[beside][metric]:.2f} %)"
                met = met and row[metric] >= results[beside][metric]
            cells += [goal, f"{measured} ({'met' if met else 'missed'})"]
        lines.append(f"| {row['grid'][0]}x{row['grid'][1]} | {row['epochs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, path):
    """Exact and pieces against the grid, one line per network: the README's results picture."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("exact", "pieces"), strict=True):
        for network, label in NETWORK_NAMES.items():
            rows = [row for name, row in results.items() if name.startswith(network + "-")]
            ax.plot([row["grid"][0] for row in rows], [100 * row[metric] for row in rows], marker="o", label=label)
        ax.set_xlabel("grid (N for NxN)")
        ax.set_ylabel(f"{metric} (% of test puzzles)" if metric == "exact" else "pieces (% of positions right)")
        ax.set_xticks(range(2, 8))
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return fig


def main(argv=None):
    args = get_args(argv)

    def work():
        path = pathlib.Path(args.json)
        results = utils.load_json(path) if path.is_file() else {}
        for name in args.only or ROWS:
            results[name] = run_row(name, args.data, args.runs, args.retrain)
            ordered = {key: results[key] for key in ROWS if key in results}
            utils.save_json(ordered, path)  # row by row: a stopped run keeps what it measured
        print(markdown({key: results[key] for key in ROWS if key in results}))

    run_script("grids.py", work)


if __name__ == "__main__":
    main()
