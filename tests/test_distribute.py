"""train.py's distribution strategies, for real: two logical CPUs in one process, two worker processes."""

import ast
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

TWO_CPU_REPLICAS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import train
train.train(data="sample", grid=2, epochs=3, train_size=2000, val_size=400,
            strategy="mirrored", out={out!r}, verbose=2)
"""


def evaluate_in_a_plain_process(model, metrics, *args):
    """Runs evaluate.py on the sample in a fresh single-device process; returns the metrics it wrote."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    command = [sys.executable, str(ROOT / "evaluate.py"), "--model", str(model), "--data", "sample", "--metrics",
               str(metrics), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(metrics.read_text())


@pytest.mark.slow
def test_mirrored_run_on_two_logical_cpus_trains_and_saves_a_plain_model(tmp_path):
    out = tmp_path / "mirrored"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", TWO_CPU_REPLICAS.format(out=str(out))],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replicas" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["strategy"] == "mirrored"
    # The saved model is an ordinary one: a plain single-device process loads and scores it.
    metrics = evaluate_in_a_plain_process(out, tmp_path / "metrics.json", "--num", "256")
    assert metrics["num_puzzles"] == 256 and 0.0 <= metrics["exact"] <= 1.0
    # The settings of test_a_short_run_on_the_sample_learns_to_solve_2x2: it learns as well.
    val = json.loads((out / "val_metrics.json").read_text())
    assert val["hungarian"]["exact"] > 0.5


TRAIN_ONE_EPOCH = """
import sys
import train
train.train(data="sample", grid=2, epochs=1, train_size=512, val_size=128, batch_size=64,
            strategy="multiworker", out=sys.argv[1], verbose=2)
"""


def free_ports(count):
    """Ports nothing listens on now, on localhost."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_two_workers(script, out, ports, *args, die=False):
    """Runs ``script`` as two worker processes on localhost, the cluster in TF_CONFIG (as TensorFlow's tests do).

    Returns:
        Each worker's ``(returncode, stdout, stderr)``.
    """
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg", "TF_CONFIG": tf_config}
        if die:
            env["DIE_AFTER_FIRST_EPOCH"] = "1"
        workers.append(subprocess.Popen([sys.executable, "-c", script, str(out), *args], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [worker.communicate(timeout=600) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    return [(worker.returncode, *output) for worker, output in zip(workers, outputs, strict=True)]


@pytest.mark.slow
def test_two_worker_processes_train_together_and_only_the_chief_writes_the_run(tmp_path):
    """As TensorFlow's multi-worker tests do: two processes on localhost, the cluster in TF_CONFIG."""
    out = tmp_path / "multiworker"
    workers = run_two_workers(TRAIN_ONE_EPOCH, out, free_ports(2))
    for returncode, stdout, stderr in workers:
        assert returncode == 0, stderr[-3000:]
        assert "2 replicas" in stdout
    outputs = [(stdout, stderr) for _, stdout, stderr in workers]
    assert "run saved to" in outputs[0][0] and "run saved to" not in outputs[1][0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multiworker"]  # the other worker left nothing
    config = json.loads((out / "config.json").read_text())
    assert config["strategy"] == "multiworker" and config["epochs"] == 1
    # The run is an ordinary one: a plain single-process evaluate.py loads and scores it.
    metrics = evaluate_in_a_plain_process(out / "final.keras", tmp_path / "metrics.json", "--split", "val")
    assert metrics["num_puzzles"] == 128
    # The piece transformer is equivariant to the shuffle, so whether it solves a digit does not depend on how
    # the digit was shuffled: the workers' validation, gathered across both, scores what one process scores.
    workers_val = json.loads((out / "val_metrics.json").read_text())
    for method, values in metrics["by_decode"].items():
        assert values == pytest.approx(workers_val[method])


TRAIN_TWO_EPOCHS = """
import os
import sys
import train
import training

if os.environ.get("DIE_AFTER_FIRST_EPOCH"):  # a fault: the process dies at once, with no clean-up, after epoch 0
    def die(self, epoch, logs=None):
        if epoch == 1:
            os._exit(3)
    training.SetEpoch.on_epoch_begin = die
train.train(data="sample", grid=2, epochs=2, train_size=256, val_size=64, batch_size=64,
            strategy="multiworker", out=sys.argv[1], resume="--resume" in sys.argv, verbose=2)
"""


@pytest.mark.slow
def test_two_workers_killed_after_an_epoch_resume_to_the_same_weights(tmp_path):
    """Fault tolerance, as Keras' BackupAndRestore is meant for: both workers die after epoch 0 and are restarted."""
    import keras

    import model_utils  # noqa: F401  (registers the custom layers the saved models hold)

    ports = free_ports(2)
    for returncode, _, stderr in run_two_workers(TRAIN_TWO_EPOCHS, tmp_path / "whole", ports):
        assert returncode == 0, stderr[-3000:]

    out = tmp_path / "killed"
    for returncode, _, stderr in run_two_workers(TRAIN_TWO_EPOCHS, out, ports, die=True):
        assert returncode == 3, stderr[-3000:]
    assert (tmp_path / "killed.partial" / "backup").is_dir() and (tmp_path / "killed.worker-1.partial").is_dir()
    for returncode, _, stderr in run_two_workers(TRAIN_TWO_EPOCHS, out, ports, "--resume"):
        assert returncode == 0, stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed", "whole"]  # the workers' folders are gone
    log = (out / "log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["0", "1"]

    whole, resumed = (keras.models.load_model(path / "final.keras", compile=False).get_weights()
                      for path in (tmp_path / "whole", out))
    for a, b in zip(whole, resumed, strict=True):
        np.testing.assert_array_equal(a, b)


TRAIN_ON_A_FOLDER = """
import json, os, sys
import data
import train
import training

decoded, making = [], {"epoch": None}  # every file this worker decodes, and the epoch of the batch it makes
decode, share = data.ImageFiles.decode, training.PuzzleBatches.share
data.ImageFiles.decode = lambda self, name: decoded.append([making["epoch"], name]) or decode(self, name)


def spy(self, epoch, *args):
    making["epoch"] = epoch
    try:
        return share(self, epoch, *args)
    finally:
        making["epoch"] = None


training.PuzzleBatches.share = spy
config = train.train(data=sys.argv[2], image_size=24, grid=2, epochs=1, batch_size=16, val_size=20,
                     strategy="multiworker", out=sys.argv[1], verbose=2)
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
with open(os.path.join(os.path.dirname(sys.argv[1]), f"decoded-{index}.json"), "w") as f:
    json.dump(decoded, f)
"""


@pytest.mark.slow
def test_two_workers_each_read_only_their_own_part_of_a_folder(tmp_path):
    """Streamed from a folder, each worker decodes its own half of every training batch, and the two halves
    together are every training image of the epoch's full batches (both decode the validation images)."""
    from PIL import Image

    import data
    import utils

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(110):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    out = tmp_path / "runs" / "multiworker"
    for returncode, _, stderr in run_two_workers(TRAIN_ON_A_FOLDER, out, free_ports(2), str(folder)):
        assert returncode == 0, stderr[-3000:]
    decoded = [json.loads((tmp_path / "runs" / f"decoded-{i}.json").read_text()) for i in (0, 1)]
    # The epoch's batches (a worker may already be making the next epoch's when training ends).
    trained = [{name for epoch, name in names if epoch == 0} for names in decoded]
    source = data.open_images(folder, image_size=24, grid=2)  # 99 training images, 11 test images
    config = json.loads((out / "config.json").read_text())
    _, val_index = utils.train_val_split(len(source.train), config["val_size"], config["seed"])
    val = {source.train.files[i] for i in val_index}
    assert not (trained[0] | trained[1]) & val  # validation images are read before training, by both
    assert not trained[0] & trained[1]  # no training image read by both workers
    assert len(trained[0]) == len(trained[1]) == 4 * 8  # 79 training images: 4 full batches of 16, 8 a worker each
    assert not (trained[0] | trained[1]) & set(source.test.files)  # nor a test image


def test_no_project_module_imports_tensorflow_when_imported():
    """TensorFlow is imported inside the functions that need it, so other Keras backends run without it."""
    modules = [*ROOT.glob("*.py"), *(ROOT / "bench").glob("*.py")]
    found = []
    for path in modules:
        for node in ast.parse(path.read_text()).body:  # module level only
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "tensorflow"]
    assert found == []


def test_one_device_under_another_backend_needs_no_strategy(monkeypatch):
    import keras

    import training

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    strategy = training.make_strategy("single")
    assert isinstance(strategy, training.OneDevice) and strategy.num_replicas_in_sync == 1
    with strategy.scope():
        pass
    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["cpu:0"])
    assert training.accelerator() is None
    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["gpu:0", "gpu:1"])
    assert training.accelerator() == "GPU, Keras jax backend"


@pytest.mark.parametrize(("backend", "expected"), [("tensorflow", False), ("jax", "auto"), ("torch", "auto")])
def test_a_cells_step_is_compiled_where_the_backend_needs_it(backend, expected):
    """JAX's backend runs an uncompiled step op by op: a transfer cell leaves it Keras' own choice."""
    import transfer

    assert transfer.jit_compile(backend) == expected
