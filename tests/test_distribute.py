"""train.py --strategy mirrored, for real: one CPU split into two logical devices."""

import json
import os
import subprocess
import sys

from conftest import ROOT

TWO_CPU_REPLICAS = """
import sys
import tensorflow as tf
sys.path.insert(0, {root!r})
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import train
train.train(data="sample", grid=2, epochs=3, train_size=2000, val_size=400,
            strategy="mirrored", out={out!r}, verbose=2)
"""


def test_mirrored_run_on_two_logical_cpus_trains_and_saves_a_plain_model(tmp_path):
    out = tmp_path / "mirrored"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", TWO_CPU_REPLICAS.format(root=str(ROOT), out=str(out))],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replicas" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["strategy"] == "mirrored"
    # The saved model is an ordinary one: a plain single-device process loads and scores it.
    result = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--model", str(out), "--data", "sample", "--num", "256"],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_puzzles"] == 256 and 0.0 <= metrics["exact"] <= 1.0
    # The settings of test_a_short_run_on_the_sample_learns_to_solve_2x2: it learns as well.
    val = json.loads((out / "val_metrics.json").read_text())
    assert val["hungarian"]["exact"] > 0.5
