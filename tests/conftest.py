"""Shared test set-up: a headless matplotlib, small data. (pyproject.toml puts the repository root on the path.)"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The project's own Python files, named by folder: never "everything under the root", which would take
# in a virtual environment made inside the clone (the README's `python -m venv .venv`).
PROJECT_FOLDERS = [".", ".ci", "bench", "sample", "tests"]


def project_files(pattern="*.py", folders=PROJECT_FOLDERS, root=ROOT):
    """The project's files matching ``pattern`` in ``folders`` of ``root`` (not their subfolders), sorted."""
    return sorted(path for folder in folders for path in (root / folder).glob(pattern))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Grids every behaviour is checked on: every square grid 1-7, rectangular ones, and
# (through the image sizes below) sides the grid does not divide.
SQUARE_GRIDS = [1, 2, 3, 4, 5, 6, 7]
RECTANGULAR_GRIDS = [(2, 3), (3, 5), (7, 4), (1, 6)]
ALL_GRIDS = SQUARE_GRIDS + RECTANGULAR_GRIDS


@pytest.fixture
def digits():
    """Eight real MNIST digits from the bundled sample, (8, 28, 28) uint8."""
    import utils

    (x_train, _), _ = utils.load_mnist("sample")
    return x_train[:8]


def random_images(n, height, width, channels=None, seed=0):
    """Random uint8 images: every piece differs from every other, so pixels identify pieces."""
    shape = (n, height, width) if channels is None else (n, height, width, channels)
    return np.random.default_rng(seed).integers(1, 256, size=shape, dtype=np.uint8)

# A tiny real training run on the sample (one epoch on 256 digits): for tests that need a run folder.
SMALL_RUN = ["--data", "sample", "--train-size", "256", "--val-size", "64", "--epochs", "1", "--batch-size", "64"]


def run(script, *args, cwd=None):
    """Runs one of the project's scripts as a user would, capturing its output."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )
