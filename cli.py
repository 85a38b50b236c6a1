"""Command-line plumbing shared by train.py, evaluate.py and the bench scripts.

One owner for how a script talks to its user: flags with their allowed values, one-line
errors and warnings, the exit status, and the metrics table it prints.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import run_folder
import utils


class CleanArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: 'prog: error: message (see --help)'.

    It also prints Python warnings (the offline data fallback, say) as one line each,
    'prog: warning: message', instead of with a line of source code. Flags must be spelled
    in full: argparse's prefix matching would take ``--epoch`` for ``--epochs`` today and
    fail, or pick another flag, the day a flag with the same prefix is added.
    """

    def __init__(self, *args, examples=(), **kwargs):
        if examples:  # --help ends with a few commands to copy and where the whole story is
            kwargs["epilog"] = ("examples:\n" + "".join(f"  {line}\n" for line in examples)
                                + "\nevery script, the run folder and the data sources: docs/cli.md")
            kwargs["formatter_class"] = argparse.RawDescriptionHelpFormatter
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def parse_args(self, *args, **kwargs):
        warnings.showwarning = lambda message, *_, **__: print(f"{self.prog}: warning: {message}", file=sys.stderr)
        return super().parse_args(*args, **kwargs)

    def add_choice(self, setting, default, help):
        """Adds ``--setting`` whose allowed values are ``run_folder.choices(setting)``."""
        self.add_argument(run_folder.flag(setting), default=default, choices=run_folder.choices(setting), help=help)


def run_script(prog, work):
    """Calls ``work()`` for a script: bad input or a missing package ends in one line, exit status 1; Ctrl-C, 130."""
    try:
        return work()
    except (ValueError, OSError, ImportError) as err:
        sys.exit(f"{prog}: error: {err}")
    except KeyboardInterrupt:
        sys.exit(130)


def format_table(metrics):
    """The metrics as a small text table, one row per decoding.

    Args:
        metrics: ``{decode method: {metric name: value}}``, as ``score_puzzles`` returns.
    """
    header = f"{'decode':<10}" + "".join(f"{name:>13}" for name in utils.METRIC_NAMES)
    rows = [header]
    for method, values in metrics.items():
        cells = "".join(
            f"{values[name]:>13.4f}" if name == "kendall_tau" else f"{100 * values[name]:>12.2f}%"
            for name in utils.METRIC_NAMES
        )
        rows.append(f"{method:<10}{cells}")
    return "\n".join(rows)
