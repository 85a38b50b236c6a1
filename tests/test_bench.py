"""bench/bench.py: its baseline computes what our pipeline computes, and it runs.

No benchmark figure is asserted here: figures live in bench/results.json and the README.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, random_images

import utils

sys.path.insert(0, str(ROOT / "bench"))
import bench  # noqa: E402


@pytest.mark.parametrize("grid", [(2, 2), (3, 3), (7, 7), (2, 5)])
def test_reference_baseline_makes_the_same_puzzles_and_heatmaps_as_ours(grid):
    images = random_images(4, 28, 28)
    sigma = utils.default_sigma((28, 28), grid)
    shuffled, heatmaps, permutation = bench.reference_prepare(images, grid, sigma, seed=0)
    assert shuffled.dtype == heatmaps.dtype == np.float64  # the port's way: float64
    np.testing.assert_array_equal(shuffled.astype(np.uint8), utils.apply_permutation(images, permutation, grid))
    np.testing.assert_allclose(heatmaps, utils.make_heatmaps(permutation, grid, (28, 28), sigma), atol=1e-6)


def test_quick_prep_section_runs_and_writes_json(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench.py"), "--quick", "--only", "prep", "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "r.json").read_text())["prep"]["rows"]
    assert [row["grid"] for row in rows] == ["2x2", "4x4", "7x7"]
    assert all(row["ours_per_s"] > 0 and row["reference_per_s"] > 0 for row in rows)
