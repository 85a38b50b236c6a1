"""train.py and evaluate.py as a user runs them: end to end, and on bad input."""

import json
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import ROOT, SMALL_RUN, run
from PIL import Image

import crops
import utils

# A short 2x2 run on the sample that learns (> 50 % exact): the networks' smoke test.
SHORT_2X2 = {"data": "sample", "grid": 2, "epochs": 3, "train_size": 2000, "val_size": 400, "verbose": 0}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny real training run on the bundled sample, shared by the tests below."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = run("train.py", *SMALL_RUN, "--grid", "2x3", "--quiet", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


@pytest.mark.slow
def test_train_writes_a_whole_run_folder(trained_run):
    out, result = trained_run
    assert sorted(p.name for p in out.iterdir()) == [
        "best.keras",
        "config.json",
        "final.keras",
        "log.csv",
        "loss.png",
        "val_metrics.json",
    ]
    assert not out.with_name("tiny.partial").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["grid"] == [2, 3] and config["puzzle_shape"] == [28, 30] and config["epochs"] == 1
    assert config["train_digits"] == 256 and config["val_digits"] == 64 and config["sigma"] == 2.5
    assert "val_loss" in (out / "log.csv").read_text().splitlines()[0]
    assert "hungarian" in result.stdout and "exact" in result.stdout


@pytest.mark.slow
def test_evaluate_scores_the_run_and_plots(trained_run, tmp_path):
    out, _ = trained_run
    result = run("evaluate.py", "--model", out, "--data", "sample", "--num", "300", "--plot", tmp_path / "p.png",
                 "--failures", tmp_path / "f.png")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_puzzles"] == 300 and metrics["split"] == "test" and metrics["grid"] == [2, 3]
    for method in ("hungarian", "argmax"):
        values = metrics["by_decode"][method]
        assert all(0.0 <= values[name] <= 1.0 for name in ("exact", "pieces", "permutation"))
        assert -1.0 <= values["kendall_tau"] <= 1.0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert metrics["exact"] < 1  # a one-epoch run on 256 digits: failures to draw
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG" and "not solved exactly" in result.stdout
    for word in ("hungarian", "argmax", "exact", "pieces", "permutation", "kendall_tau"):
        assert word in result.stdout


def test_the_border_solver_is_scored_without_a_network(tmp_path):
    """evaluate.py --decode border: no --model, no TensorFlow, the usual table with a border row."""
    result = run("evaluate.py", "--decode", "border", "--data", "sample", "--grid", "2", "--num", "40",
                 "--metrics", tmp_path / "m.json", "--plot", tmp_path / "p.png", "--failures", tmp_path / "f.png")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "40 test puzzles, 2x2 grid, seed 0\n" in result.stdout and "\nborder " in result.stdout
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["model"] is None and list(metrics["by_decode"]) == ["border"] and metrics["decode"] == "border"
    assert metrics["exact"] >= 0.9 and metrics["border"]["frame"] is True  # digits: the outside is black
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_the_border_solver_scores_colour_photos_brought_to_one_size(tmp_path):
    result = run("evaluate.py", "--decode", "border", "--data", "photos", "--grid", "3", "--image-size", "24",
                 "--split", "all", "--num", "20", "--metrics", tmp_path / "m.json")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["num_puzzles"] == 20 and metrics["border"]["frame"] is False
    assert metrics["by_decode"]["border"]["pieces"] > 1 / 9  # above chance on real photographs


@pytest.mark.slow
def test_a_run_scored_with_border_decoding_shows_all_three_rows(trained_run, tmp_path):
    out, _ = trained_run
    result = run("evaluate.py", "--model", out, "--data", "sample", "--num", "50", "--decode", "border",
                 "--metrics", tmp_path / "m.json")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert list(metrics["by_decode"]) == ["hungarian", "argmax", "border"] and metrics["loss"] is not None


class PerfectExceptEvery3rd:
    """A stand-in network: the true heatmaps, but every third puzzle's first two pieces swapped."""

    def __init__(self, permutation, grid):
        self.permutation, self.grid, self.seen = permutation, grid, 0

    def predict_on_batch(self, x):
        permutation = self.permutation[self.seen : self.seen + len(x)].copy()
        flip = (np.arange(self.seen, self.seen + len(x)) % 3) == 0
        permutation[flip, :2] = permutation[flip, 1::-1]
        self.seen += len(x)
        return utils.make_heatmaps(permutation, self.grid, x.shape[1:3])

@pytest.mark.slow
def test_layout_decoding_scores_the_network_and_the_borders_together(trained_run, tmp_path):
    out, _ = trained_run
    result = run("evaluate.py", "--model", out, "--decode", "layout", "--num", "40", "--weight", "0.5",
                 "--metrics", tmp_path / "m.json", "--plot", tmp_path / "p.png")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "layout decoding: beam 100, weight 0.5" in result.stdout
    assert "hungarian decoding of the same" in result.stdout
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["decode"] == "layout" and set(metrics["by_decode"]) == {"hungarian", "argmax", "layout"}
    assert metrics["layout"]["weight"] == 0.5 and metrics["layout"]["ms_per_puzzle"] > 0
    assert 0 <= metrics["exact"] <= 1 and (tmp_path / "p.png").is_file()



@pytest.mark.parametrize("batch_size", [4, 50])
def test_find_failures_returns_the_first_wrong_puzzles_and_their_heatmaps(batch_size):
    import evaluate

    digits = utils.load_mnist("sample")[1][0][:40]
    shuffled, permutation = utils.shuffle_pieces(digits, 2, 0)
    net = PerfectExceptEvery3rd(permutation, (2, 2))
    wrong = utils.jigsaw_scores(digits, shuffled, permutation, permutation[:, [1, 0, 2, 3]], 2)["exact"] == 0
    expected = [i for i in range(0, 40, 3) if wrong[i]][:5]
    index, heatmaps = evaluate.find_failures(net, digits, shuffled, permutation, (2, 2), "hungarian", 5, batch_size)
    assert list(index) == expected and heatmaps.shape == (5, 28, 28, 4)
    decoded = utils.decode_heatmaps(heatmaps, (2, 2), "hungarian")
    assert (decoded[:, :2] == permutation[index][:, 1::-1]).all()


@pytest.mark.slow
def test_evaluate_repeats_exactly_with_the_same_seed(trained_run, tmp_path):
    out, _ = trained_run
    for name in ("a", "b"):
        result = run(
            "evaluate.py",
            "--model",
            out / "final.keras",
            "--data",
            "sample",
            "--num",
            "100",
            "--metrics",
            tmp_path / f"{name}.json",
        )
        assert result.returncode == 0, result.stderr[-3000:]
    a, b = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("a", "b"))
    assert a["by_decode"] == b["by_decode"]


@pytest.mark.slow
def test_training_repeats_exactly_with_the_same_seed(trained_run, tmp_path):
    out, _ = trained_run
    again = tmp_path / "again"
    result = run("train.py", *SMALL_RUN, "--grid", "2x3", "--quiet", "--out", again)
    assert result.returncode == 0, result.stderr[-3000:]
    first = json.loads((out / "val_metrics.json").read_text())
    second = json.loads((again / "val_metrics.json").read_text())
    assert first["hungarian"] == second["hungarian"] and first["argmax"] == second["argmax"]


def test_help_documents_every_flag():
    import run_folder

    # Every setting a run saves is a train.py flag, and the old fixed list stays covered.
    train_flags = [run_folder.flag(setting) for setting in run_folder.DEFAULTS] + ["--overwrite", "--resume", "--quiet"]
    assert {"--grid", "--epochs", "--batch-size", "--learning-rate", "--sigma", "--data", "--train-size", "--val-size",
            "--arch", "--loss", "--dim", "--blocks", "--heads", "--filters", "--depth", "--warmup-steps", "--decode",
            "--seed", "--out", "--resume"} <= set(train_flags)
    evaluate_flags = ["--model", "--data", "--split", "--num", "--decode", "--seed", "--plot", "--show"]
    for script, flags in [("train.py", train_flags), ("evaluate.py", evaluate_flags)]:
        result = run(script, "--help")
        assert result.returncode == 0
        for flag in flags:
            assert flag in result.stdout, (script, flag)


def bad_files(tmp_path):
    (tmp_path / "corrupt.npz").write_bytes(b"\x00garbage, not a zip archive")
    np.savez(
        tmp_path / "flat.npz",
        x_train=np.zeros((9, 784), np.uint8),
        y_train=np.zeros(9, np.uint8),
        x_test=np.zeros((3, 784), np.uint8),
        y_test=np.zeros(3, np.uint8),
    )
    (tmp_path / "a_file").write_text("a file where a folder should be")
    (tmp_path / "broken.keras").write_bytes(b"not a keras zip")
    (tmp_path / "config.json").write_text(
        json.dumps({"grid": [2, 2], "sigma": 3.5, "image_shape": [28, 28], "seed": 0, "val_size": 500})
    )
    (tmp_path / "no_images").mkdir()
    (tmp_path / "no_images" / "notes.txt").write_text("a folder without one image")
    (tmp_path / "photos").mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 60 * i, np.uint8)).save(tmp_path / "photos" / f"{i}.png")
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    np.save(tmp_path / "floats.npy", np.zeros((4, 8, 8), np.float32))
    np.save(tmp_path / "flat.npy", np.zeros((4, 64), np.uint8))
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "final.keras").write_bytes(b"")
    (tmp_path / "old" / "config.json").write_text(json.dumps({"grid": [2, 2]}))


BAD_INPUT = [
    ("missing data path", "train.py", ["--data", "{tmp}/nowhere.npz"], "no data at"),
    ("folder without images", "train.py", ["--data", "{tmp}/no_images"], "holds no images"),
    ("a file not an image, strict", "train.py", ["--data", "{tmp}/photos", "--strict"],
     "notes.txt is not a readable image"),
    ("image size too small for the grid", "train.py", ["--data", "{tmp}/photos", "--grid", "3", "--image-size", "5"],
     "leaves pieces under 2 px a side"),
    ("malformed image size", "train.py", ["--data", "{tmp}/photos", "--image-size", "48x"],
     "--image-size must be a size in pixels"),
    ("channels not 1 or 3", "train.py", ["--data", "{tmp}/photos", "--channels", "2"], "--channels must be 1 or 3"),
    ("npy of floats", "train.py", ["--data", "{tmp}/floats.npy"], "must be uint8 (0-255), got float32"),
    ("npy of the wrong rank", "train.py", ["--data", "{tmp}/flat.npy"], "must have shape (N, H, W) or (N, H, W, C)"),
    ("corrupt npz", "train.py", ["--data", "{tmp}/corrupt.npz"], "is not a readable .npz file"),
    ("text file as data", "train.py", ["--data", "{tmp}/a_file"], "an .npz in Keras' layout, a folder of the four IDX"),
    ("wrong array shape", "train.py", ["--data", "{tmp}/flat.npz"], "x_train in"),
    ("non-integer grid", "train.py", ["--data", "sample", "--grid", "2.5"], "grid must be"),
    ("grid larger than image", "train.py", ["--data", "sample", "--grid", "29"], "larger than the 28x28 image"),
    ("zero grid", "train.py", ["--data", "sample", "--grid", "0x2"], "grid must be positive"),
    ("negative epochs", "train.py", ["--data", "sample", "--epochs", "-1"], "--epochs must be a positive integer"),
    ("unknown decode (train)", "train.py", ["--data", "sample", "--decode", "greedy"], "invalid choice: 'greedy'"),
    (
        "unwritable out folder",
        "train.py",
        ["--data", "sample", "--out", "{tmp}/a_file/run"],
        "cannot create the run folder",
    ),
    ("non-numeric flag", "train.py", ["--learning-rate", "fast"], "invalid float value"),
    ("unknown dtype policy", "train.py", ["--data", "sample", "--dtype-policy", "float8"], "invalid choice: 'float8'"),
    ("unknown network", "train.py", ["--data", "sample", "--arch", "resnet"], "invalid choice: 'resnet'"),
    ("unknown loss", "train.py", ["--data", "sample", "--loss", "l1"], "invalid choice: 'l1'"),
    (
        "heatmap loss for the denoiser",
        "train.py",
        ["--data", "sample", "--pretext", "denoise", "--loss", "softmax"],
        "--pretext denoise trains with the mse loss, not --loss softmax",
    ),
    (
        "heads not dividing dim",
        "train.py",
        ["--data", "sample", "--dim", "100", "--heads", "3"],
        "--heads (3) must divide --dim (100)",
    ),
    ("gap wider than the pieces", "train.py", ["--data", "sample", "--grid", "4", "--gap", "4"],
     "less than the 7x7 px pieces"),
    ("gap for the denoiser", "train.py", ["--data", "sample", "--pretext", "denoise", "--gap", "2"],
     "--pretext denoise has none"),
    ("negative gap", "train.py", ["--data", "sample", "--gap", "-1"], "--gap must be >= 0"),
    ("negative warm-up", "train.py", ["--data", "sample", "--warmup-steps", "-1"], "--warmup-steps must be >= 0"),
    ("missing model file", "evaluate.py", ["--model", "{tmp}/nothing.keras", "--data", "sample"], "no model at"),
    (
        "unknown decode (evaluate)",
        "evaluate.py",
        ["--model", "{tmp}", "--decode", "greedy"],
        "invalid choice: 'greedy'",
    ),
    pytest.param(
        "broken model file",
        "evaluate.py",
        ["--model", "{tmp}/broken.keras", "--data", "sample"],
        "is not a loadable .keras model",
        marks=pytest.mark.slow,
    ),  # starts TensorFlow to try loading it
    ("negative num", "evaluate.py", ["--model", "{tmp}/broken.keras", "--num", "-5"], "--num must be a positive"),
    ("run folder without model", "evaluate.py", ["--model", "{tmp}/runs"], "holds no best.keras"),
    ("config without settings", "evaluate.py", ["--model", "{tmp}/old"], "lacks sigma, image_shape, seed, val_size"),
    ("no model, no border", "evaluate.py", ["--data", "sample"], "--model is needed, unless --decode border"),
    ("border without data", "evaluate.py", ["--decode", "border", "--grid", "2"], "needs --data"),
    ("border without grid", "evaluate.py", ["--decode", "border", "--data", "sample"], "needs --grid"),
    ("border on val", "evaluate.py", ["--decode", "border", "--data", "sample", "--grid", "2", "--split", "val"],
     "--split val is a run's own"),
    ("grid beside a model", "evaluate.py", ["--model", "{tmp}/runs", "--grid", "3"], "are the run's own with --model"),
    ("layout without a model", "evaluate.py", ["--decode", "layout", "--data", "sample", "--grid", "2"],
     "--model is needed"),
    ("negative weight", "evaluate.py", ["--model", "{tmp}/runs", "--decode", "layout", "--weight", "-1"],
     "--weight must be a weight >= 0"),
    ("empty beam", "evaluate.py", ["--decode", "border", "--data", "sample", "--grid", "2", "--beam", "0"],
     "--beam must keep at least one layout"),
]


@pytest.mark.parametrize(
    "case, script, args, message",
    BAD_INPUT,
    ids=[case.values[0] if hasattr(case, "marks") else case[0] for case in BAD_INPUT],
)
def test_bad_input_gets_one_clear_line_and_no_run_folder(tmp_path, case, script, args, message):
    bad_files(tmp_path)
    (tmp_path / "runs").mkdir()
    args = [a.format(tmp=tmp_path) for a in args]
    if script == "train.py" and "--out" not in args:
        args += ["--out", str(tmp_path / "runs" / "run")]
    result = run(script, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert message in last and last.startswith(f"{script}: error:"), result.stderr[-2000:]
    assert list((tmp_path / "runs").iterdir()) == []  # nothing half-written


@pytest.mark.slow
def test_existing_run_folder_is_kept_unless_overwrite(trained_run, tmp_path):
    out, _ = trained_run
    result = run("train.py", *SMALL_RUN, "--out", out)
    assert result.returncode != 0 and "already exists" in result.stderr
    assert (out / "best.keras").is_file()
    precious = tmp_path / "not-a-run"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = run("train.py", *SMALL_RUN, "--out", precious, "--overwrite")
    assert result.returncode != 0 and "replaces only a run folder" in result.stderr
    assert (precious / "notes.txt").read_text() == "keep me"
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "stale.txt").write_text("from the old run")
    result = run("train.py", *SMALL_RUN, "--out", copy, "--overwrite", "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (copy / "stale.txt").exists() and (copy / "best.keras").is_file()


@pytest.mark.slow
def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    import train
    import training

    def interrupt_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # as if Ctrl-C came after the first epoch

    settings = dict(
        data="sample", train_size=128, val_size=32, epochs=2, batch_size=64, out=str(tmp_path / "run"), verbose=0
    )
    with monkeypatch.context() as patch:
        patch.setattr(training.SetEpoch, "on_epoch_begin", interrupt_second_epoch)
        with pytest.raises(KeyboardInterrupt):
            train.train(**settings)
    partial = tmp_path / "run.partial"
    assert not (tmp_path / "run").exists() and (partial / "backup").is_dir()
    header, first = (partial / "log.csv").read_text().splitlines()  # epoch 0 only
    # As if the first epoch had taken 1000 s: the resumed run's seconds go on from there.
    column = header.split(",").index("seconds")
    first = ",".join("1000.0" if i == column else v for i, v in enumerate(first.split(",")))
    (partial / "log.csv").write_text(f"{header}\n{first}\n")

    result = train.train(**{**settings, "epochs": 99}, resume=True)  # saved settings win
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["0", "1"]
    trained = json.loads((tmp_path / "run" / "val_metrics.json").read_text())["train_seconds"]
    assert 1000 < float(log[2].split(",")[column]) <= trained
    assert not partial.exists() and not (tmp_path / "run" / "backup").exists()
    assert 0.0 <= result["val"]["hungarian"]["exact"] <= 1.0
    # The same puzzles in the same order as a run that was never interrupted: the same weights.
    whole = train.train(**{**settings, "out": str(tmp_path / "whole")})
    assert whole["val"] == result["val"]
    import keras

    for a, b in zip(*(keras.models.load_model(tmp_path / name / "final.keras", compile=False).get_weights()
                      for name in ("run", "whole")), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_short_run_on_the_sample_learns_to_solve_2x2(tmp_path):
    """Catches a label, decoding or pipeline that trains without error but learns nothing."""
    import train

    result = train.train(**SHORT_2X2, out=str(tmp_path / "run"))
    chance = 1 / 24  # a random 2x2 permutation
    assert result["val"]["hungarian"]["exact"] > 0.5 > 10 * chance


@pytest.mark.slow
def test_the_original_unet_is_one_flag_and_still_learns_2x2(tmp_path):
    """`--arch unet` alone trains the original port's network, loss and schedule, and config.json says so."""
    import train

    result = train.train(**SHORT_2X2, arch="unet", out=str(tmp_path / "run"))
    assert result["val"]["hungarian"]["exact"] > 0.5
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["arch"], config["loss"], config["warmup_steps"]) == ("unet", "mse", 0)


@pytest.mark.slow
def test_evaluate_on_the_runs_own_validation_digits(trained_run, tmp_path):
    out, _ = trained_run
    result = run(
        "evaluate.py", "--model", out, "--data", "sample", "--split", "val", "--metrics", tmp_path / "val.json"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "val.json").read_text())
    assert metrics["split"] == "val" and metrics["num_puzzles"] == 64  # the run's --val-size
    assert metrics["data"] == "sample" and len(metrics["digits_fingerprint"]) == 12


@pytest.mark.slow
def test_a_run_records_its_digits_and_refuses_others_for_its_validation_split(trained_run, tmp_path):
    import utils

    out, _ = trained_run
    config = json.loads((out / "config.json").read_text())
    (x_train, y_train), (x_test, y_test) = utils.load_mnist("sample")
    assert config["data_origin"] == "sample" and config["data_fingerprint"] == utils.digits_fingerprint(x_train)
    other = tmp_path / "other.npz"  # the same test digits, other training digits: another validation split
    np.savez(other, x_train=x_train[::-1], y_train=y_train[::-1], x_test=x_test, y_test=y_test)
    result = run("evaluate.py", "--model", out, "--data", other, "--split", "val", "--metrics", tmp_path / "m.json")
    assert result.returncode == 1 and not (tmp_path / "m.json").exists()
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate.py: error: --split val: these training images") and "sample" in last
    result = run("evaluate.py", "--model", out, "--data", other, "--num", "50", "--metrics", tmp_path / "m.json")
    assert result.returncode == 0, result.stderr[-2000:]  # the test split does not depend on the run's digits
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["data"] == str(other) and metrics["digits_fingerprint"] == utils.digits_fingerprint(x_test[:50])


@pytest.mark.slow
@pytest.mark.parametrize("arch, first_layer", [("transformer", "pieces"), ("unet", "down0_conv1")])
def test_mixed_precision_and_constant_learning_rate_runs_save_float32_heatmaps(tmp_path, arch, first_layer):
    import keras

    import train

    out = tmp_path / "bf16"
    train.train(data="sample", train_size=128, val_size=32, epochs=1, batch_size=64, dtype_policy="mixed_bfloat16",
                lr_schedule="constant", arch=arch, out=str(out), verbose=0)
    assert keras.mixed_precision.global_policy().name == "float32"  # left as it was
    model = keras.models.load_model(out / "final.keras")
    assert model.get_layer(first_layer).dtype_policy.name == "mixed_bfloat16"
    assert model.predict_on_batch(np.zeros((2, 28, 28, 1), np.float32)).dtype == np.float32
    config = json.loads((out / "config.json").read_text())
    assert config["dtype_policy"] == "mixed_bfloat16" and config["lr_schedule"] == "constant"


def read_scalars(folder):
    """{tag: [values]} of every scalar summary in the TensorBoard event files under ``folder``."""
    import tensorflow as tf

    scalars = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":  # not the graph, say
                    scalars.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return scalars


@pytest.mark.slow
def test_tensorboard_logs_losses_and_validation_rates_every_epoch(tmp_path):
    import train

    out = tmp_path / "run"
    result = train.train(
        data="sample", train_size=256, val_size=64, epochs=2, batch_size=64, tensorboard=True, out=str(out), verbose=0
    )
    train_scalars = read_scalars(out / "tensorboard" / "train")
    val_scalars = read_scalars(out / "tensorboard" / "validation")
    assert len(train_scalars["epoch_loss"]) == 2
    assert val_scalars["epoch_exact"][-1] == pytest.approx(result["val"]["hungarian"]["exact"])
    assert len(val_scalars["epoch_pieces"]) == len(val_scalars["epoch_loss"]) == 2
    assert json.loads((out / "config.json").read_text())["tensorboard"] is True


@pytest.mark.parametrize("script, args, abbreviation", [
    ("train", ["--epoch", "1"], "--epoch"),
    ("evaluate", ["--model", "runs/x", "--spl", "val"], "--spl"),
    ("transfer", ["--scratch", "--label", "10"], "--label"),
])
def test_abbreviated_flags_are_refused(capsys, script, args, abbreviation):
    """A prefix that works today would break, or pick another flag, when a flag is added."""
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(script).get_args(args)
    assert exit_info.value.code == 2
    assert f"unrecognized arguments: {abbreviation}" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_with_gaps_between_pieces_trains_and_is_scored_on_puzzles_with_the_same_gaps(tmp_path):
    import evaluate
    import train
    import utils

    out = tmp_path / "gap"
    train.train(data="sample", grid=2, gap=2, train_size=256, val_size=64, epochs=1, batch_size=64, out=str(out),
                verbose=0)
    assert json.loads((out / "config.json").read_text())["gap"] == 2
    images, shuffled, _, _ = evaluate.make_puzzles(json.loads((out / "config.json").read_text()), "sample", "test",
                                                   20, seed=0)
    pieces = utils.split_pieces(shuffled, 2)
    assert not pieces[:, :, :2].any() and not pieces[:, :, :, -2:].any()  # every piece's margins are blank
    assert not utils.split_pieces(images, 2)[:, :, :2].any()  # and so are the digits it is scored against
    result = evaluate.evaluate(str(out), data="sample", num=100, metrics=str(tmp_path / "m.json"), verbose=0)
    assert 0.0 <= result["exact"] <= 1.0


@pytest.mark.slow
def test_a_folder_of_colour_photos_trains_and_is_scored_on_another_folder(tmp_path):
    """The bundled photos, streamed from disk: config.json says what was used; colour plots; another folder scored."""
    out, photos = tmp_path / "photos", tmp_path / "my_photos"
    shutil.copytree(utils.PHOTOS_PATH, photos)
    (photos / "notes.txt").write_text("not an image")
    whole = (photos / "astronaut" / "000.jpg").read_bytes()
    (photos / "astronaut" / "000.jpg").write_bytes(whole[: len(whole) // 2])  # its header reads, its pixels do not
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "readme.txt").write_text("not an image")
    shutil.copytree(utils.PHOTOS_PATH / "rocket", tmp_path / "extra" / "rocket")
    result = run("train.py", "--data", photos, "--image-size", "25", "--grid", "3", "--epochs", "1",
                 "--batch-size", "16", "--val-size", "16", "--quiet", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["image_size"] == config["image_shape"] == [24, 24] and config["channels"] == 3
    assert config["data_kind"] == "folder"
    assert config["skipped_files"] == {"not_images": 1, "unreadable": 0, "undecodable": 1}
    assert "astronaut/000.jpg: it cannot be decoded" in result.stderr
    assert config["train_digits"] + config["val_digits"] == 183  # 203 photos less the test tenth
    result = run("evaluate.py", "--model", out, "--plot", tmp_path / "p.png", "--failures", tmp_path / "f.png")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_puzzles"] == 20 and metrics["data"] == str(photos)  # the run's own folder, by default
    picture = plt.imread(tmp_path / "p.png")[..., :3]
    assert (np.abs(picture[..., 0] - picture[..., 2]) > 0.2).mean() > 0.01  # colour, not grey
    result = run("evaluate.py", "--model", out, "--data", tmp_path / "extra", "--split", "all",
                 "--metrics", tmp_path / "extra.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipping 1 file(s) that are not images" in result.stderr
    assert json.loads((tmp_path / "extra.json").read_text())["num_puzzles"] == 29  # every rocket crop
    result = run("evaluate.py", "--model", out, "--data", tmp_path / "extra", "--split", "val")
    assert result.returncode == 1 and "these training images" in result.stderr.splitlines()[-1]


def test_a_run_on_fresh_crops_validates_on_other_photographs_and_evaluate_scores_the_same(tmp_path):
    """--crop: fresh random crops of a few large photographs; --val-data: validation photographs of their own."""
    from PIL import Image

    photos, val = tmp_path / "photos", tmp_path / "val"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (120 + 10 * i, 160, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(photos / "tiny.png")
    shutil.copytree(utils.PHOTOS_PATH / "rocket", val)
    out = tmp_path / "run"
    result = run("train.py", "--data", photos, "--crop", "--crops-per-epoch", "64", "--val-data", val,
                 "--image-size", "24", "--grid", "2", "--epochs", "1", "--batch-size", "32", "--dim", "16",
                 "--quiet", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "smaller than the crop" in result.stderr and "tiny.png" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["crop"] is True and config["val_data"] == str(val)
    assert config["val_digits"] == 29 and config["skipped_files"]["too_small"] == 1  # every rocket crop
    assert config["image_shape"] == [24, 24]
    result = run("evaluate.py", "--model", out, "--split", "val", "--metrics", tmp_path / "val.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "val.json").read_text())["num_puzzles"] == 29
    # An array of large images is cropped at its own size, not first shrunk to --image-size.
    np.save(tmp_path / "large.npy", rng.integers(0, 256, (6, 120, 160, 3), dtype=np.uint8))
    result = run("train.py", "--data", tmp_path / "large.npy", "--crop", "--crops-per-epoch", "32", "--image-size",
                 "24", "--grid", "2", "--epochs", "1", "--batch-size", "32", "--dim", "16", "--quiet", "--out",
                 tmp_path / "array-run")
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "array-run" / "config.json").read_text())
    assert config["image_shape"] == [24, 24] and config["skipped_files"]["too_small"] == 0
    assert config["val_digits"] == crops.VAL_CROPS  # fixed crops of the held-out image


def test_crops_of_mnist_are_refused(tmp_path):
    result = run("train.py", "--data", "sample", "--crop", "--out", tmp_path / "run")
    assert result.returncode != 0 and "--crop cuts random crops of large images" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("split, gap", [("all", 0), ("test", 1)])
def test_a_folder_is_scored_batch_by_batch_as_the_same_images_in_an_array_would_be(tmp_path, split, gap):
    """evaluate.py's puzzles of a folder are made as they are indexed, and equal the array's puzzles."""
    import data
    import evaluate

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(30):
        pixels = np.random.default_rng(i).integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    source = data.open_images(folder, image_size=24, grid=2)
    np.savez(tmp_path / "same.npz", x_train=source.train.load(), x_test=source.test.load())
    config = {"image_size": [24, 24], "image_shape": [24, 24], "puzzle_shape": [24, 24], "grid": [2, 2],
              "channels": 3, "gap": gap, "data_origin": str(folder), "seed": 0, "val_size": 5}
    images, shuffled, permutation, _ = evaluate.make_puzzles(config, None, split, 20, seed=3)
    assert isinstance(shuffled, evaluate.Puzzles) and len(shuffled) == min(20, 27 if split == "all" else 3)
    arrays = evaluate.make_puzzles(config, tmp_path / "same.npz", split, 20, seed=3)
    np.testing.assert_array_equal(permutation, arrays[2])
    np.testing.assert_array_equal(images[:], arrays[0])
    np.testing.assert_array_equal(shuffled[:], arrays[1])
    np.testing.assert_array_equal(shuffled[[2, 0]], arrays[1][[2, 0]])


@pytest.mark.slow
@pytest.mark.parametrize("grid", [2, 3, 4])
def test_a_shipped_photographs_model_scores_a_folder_of_photographs_without_training(tmp_path, grid):
    model = ROOT / "models" / f"photos-{grid}x{grid}"
    result = run("evaluate.py", "--model", model, "--data", utils.PHOTOS_PATH / "rocket", "--split", "all",
                 "--metrics", tmp_path / "m.json", "--plot", tmp_path / "p.png")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["num_puzzles"] == 29 and metrics["by_decode"]["hungarian"]["pieces"] > 0.5  # chance: 1 / K
    assert not (model / "metrics.json").exists()  # --metrics elsewhere: the shipped folder stays as shipped
