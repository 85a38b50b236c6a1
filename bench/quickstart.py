"""The README's examples, run as written, and what they printed: bench/quickstart.json.

    python -m bench.quickstart [--only run keypoints] [--json bench/quickstart.json]

Each example of ``EXAMPLES`` is a list of the README's commands, run in order from the
repository root as a user types them (``python`` is this interpreter); the run folders they
write (``runs/first``, ``runs/figures-set``) are deleted first, since the README's commands do not
overwrite. The results file records, for each example, its commands, the last command's standard
output, the training seconds where a run folder has them, and the CPU. The README quotes its
outputs from this file, and tests/test_docs.py checks that they agree. Without a network,
train.py trains on the bundled sample and says so.
"""

import argparse
import os
import pathlib
import shlex
import shutil
import subprocess
import sys

import run_folder
import utils
from cli import run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "bench" / "quickstart.json"
# name -> (the README's commands, the folders they write, the run folder whose training seconds count)
EXAMPLES = {
    "run": (["python train.py --out runs/first", "python evaluate.py --model runs/first"],
            ["runs/first"], "runs/first"),
    "keypoints": (["python -m sample.figures --out runs/figures-set --num 1000 --seed 0",
                   "python transfer.py --scratch --arch unet --task keypoints --annotations "
                   "runs/figures-set/keypoints.json --labels 1000 --image-size 48 --mode finetune"],
                  ["runs/figures-set"], None),
}


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--only", nargs="+", choices=list(EXAMPLES), default=list(EXAMPLES),
                        help="the examples to run (default: all); the others keep their recorded output")
    parser.add_argument("--json", default=str(RESULTS_JSON), help="results file (default bench/quickstart.json)")
    return parser.parse_args(argv)


def run(command):
    """Runs one command line from the repository root; its standard output, or an error naming it."""
    words = shlex.split(command)
    result = subprocess.run([sys.executable, *words[1:]], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2"}, check=False)
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ChildProcessError(f"{command} failed (exit {result.returncode}): {last}")
    return result.stdout


def text_of(printed):
    """What a command printed, as a terminal's scrollback keeps it: without its progress bars (ANSI-coloured lines)."""
    return "\n".join(line.rstrip() for line in printed.strip().splitlines() if "\x1b[" not in line)


def example(name):
    """Runs one example; what the results file records of it."""
    commands, outputs, run_folder_path = EXAMPLES[name]
    for folder in outputs:
        shutil.rmtree(ROOT / folder, ignore_errors=True)
    for command in commands:
        printed = run(command)
    record = {"commands": commands, "cpu": utils.cpu_description(), "printed": text_of(printed)}
    if run_folder_path:
        record["train_seconds"] = utils.load_json(ROOT / run_folder_path / run_folder.VAL_METRICS)["train_seconds"]
    return record


def main(argv=None):
    args = get_args(argv)

    def work():
        path = pathlib.Path(args.json)
        results = utils.load_json(path) if path.is_file() else {}
        for name in args.only:
            results[name] = example(name)
            utils.save_json(results, path)  # example by example: a stopped run keeps what it measured
            print(f"--- {name}\n{results[name]['printed']}")
        print(f"written to {path}")

    run_script("bench.quickstart", work)


if __name__ == "__main__":
    main()
