"""run_folder: the run-folder format, the settings' schema and their checks (no TensorFlow)."""

import json

import numpy as np
import pytest

import crops
import run_folder
import utils


def write_config(folder, **config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / run_folder.CONFIG).write_text(json.dumps(config))


RESOLVED = {"grid": [2, 2], "sigma": 3.5, "image_shape": [28, 28], "seed": 0, "val_size": 500}


def test_a_config_saved_before_arch_existed_reads_as_the_original_unet_with_mse(tmp_path):
    write_config(tmp_path, **RESOLVED, epochs=5)
    config = run_folder.read_config(tmp_path)
    assert (config["arch"], config["loss"], config["warmup_steps"]) == ("unet", "mse", 0)
    assert config["tensorboard"] is False and config["decode"] == "hungarian"  # the rest: DEFAULTS


def test_saved_settings_win_over_every_default(tmp_path):
    write_config(tmp_path, **RESOLVED, arch="transformer", loss="softmax", warmup_steps=300, decode="argmax")
    config = run_folder.read_config(tmp_path / run_folder.CONFIG)
    assert (config["arch"], config["loss"], config["warmup_steps"], config["decode"]) == (
        "transformer", "softmax", 300, "argmax")


@pytest.mark.parametrize("arch, given, expected", [
    ("unet", {}, ("mse", 0)),  # the original port's loss and schedule: `--arch unet` alone is the original
    ("transformer", {}, ("softmax", 300)),
    ("unet", {"loss": "softmax"}, ("softmax", 0)),  # an explicit flag wins over the network's own
    ("transformer", {"warmup_steps": 0}, ("softmax", 0)),
])
def test_each_network_brings_its_own_loss_and_warmup_unless_a_flag_says(arch, given, expected):
    config = run_folder.with_network_defaults({**run_folder.DEFAULTS, "arch": arch, **given})
    assert (config["loss"], config["warmup_steps"]) == expected


def test_a_config_that_is_not_a_runs_is_refused(tmp_path):
    write_config(tmp_path, grid=[2, 2])
    with pytest.raises(ValueError, match="lacks sigma, image_shape, seed, val_size"):
        run_folder.read_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        run_folder.read_config(tmp_path / "nowhere")


@pytest.mark.parametrize("setting", sorted(run_folder.CHOICES))
def test_every_choice_has_one_error_wording(setting):
    what, allowed = run_folder.CHOICES[setting]
    for value in allowed:
        run_folder.check_choice(setting, value)
    with pytest.raises(ValueError, match=f"^unknown {what} 'nonsense'; choose one of {', '.join(allowed)}$"):
        run_folder.check_choice(setting, "nonsense")


@pytest.mark.parametrize("key, value, message", [
    ("arch", "resnet", "unknown network 'resnet'"),
    ("strategy", "ring", "unknown strategy 'ring'"),
    ("batch_size", 0, "--batch-size must be a positive integer"),
    ("val_size", 0, "--val-size must be positive"),
    ("grid", "2x", "grid must be"),
])
def test_check_settings_names_the_bad_setting(key, value, message):
    with pytest.raises(ValueError, match=message):
        run_folder.check_settings({**run_folder.DEFAULTS, key: value})


def test_check_out_refuses_what_would_lose_work(tmp_path):
    out = tmp_path / "run"
    assert run_folder.check_out(out) == (out, tmp_path / "run.partial")
    out.mkdir()
    with pytest.raises(ValueError, match="already exists"):
        run_folder.check_out(out)
    with pytest.raises(ValueError, match="replaces only a run folder"):
        run_folder.check_out(out, overwrite=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        run_folder.check_out(tmp_path / "other", resume=True)


def test_publish_replaces_the_old_run_whole(tmp_path):
    out = tmp_path / "run"
    write_config(out, old=True)
    staging = run_folder.staging_folder(out)
    write_config(staging, new=True)
    run_folder.publish(staging, out)
    assert json.loads((out / run_folder.CONFIG).read_text()) == {"new": True} and not staging.exists()


@pytest.mark.parametrize("tf_config, chief", [
    (None, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
])
def test_only_the_chief_writes_the_run(tf_config, chief):
    assert run_folder.is_chief("{}" if tf_config is None else json.dumps(tf_config)) is chief


def test_a_malformed_tf_config_is_named_in_the_error():
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        run_folder.is_chief("{'cluster': single quotes}")


def test_read_log_reads_columns_as_floats(tmp_path):
    (tmp_path / run_folder.LOG).write_text("epoch,loss,val_exact\n0,0.5,0.25\n1,0.25,0.5\n")
    assert run_folder.read_log(tmp_path) == {"epoch": [0.0, 1.0], "loss": [0.5, 0.25], "val_exact": [0.25, 0.5]}


def test_record_digits_records_them_and_refuses_others(digits):
    import utils

    config = {}
    run_folder.record_digits(config, digits, "sample", "--resume")
    assert config == {"data_origin": "sample", "data_fingerprint": utils.digits_fingerprint(digits)}
    run_folder.record_digits(config, digits.copy(), "path/to/copy.npz", "--resume")  # the same digits elsewhere
    with pytest.raises(ValueError, match=r"--resume: these training images \(other.npz, fingerprint \w{12}\) are not"):
        run_folder.record_digits(config, digits[::-1], "other.npz", "--resume")
    old = {"data_origin": None, "data_fingerprint": None}  # a run saved before digits were recorded
    run_folder.record_digits(old, digits[::-1], "other.npz", "--split val")


def test_a_worker_that_is_not_the_chief_trains_in_a_folder_of_its_own(tmp_path):
    tf_config = json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}})
    out = tmp_path / "run"
    assert run_folder.worker_folder(out, tf_config) == tmp_path / "run.worker-1.partial"
    with pytest.raises(FileNotFoundError, match="nothing to resume: .*run.worker-1.partial holds no interrupted run"):
        run_folder.check_worker_folder(out, resume=True, tf_config=tf_config)
    stale = tmp_path / "run.worker-1.partial"
    stale.mkdir()
    (stale / run_folder.CONFIG).write_text("{}")
    assert run_folder.check_worker_folder(out, resume=True, tf_config=tf_config) == stale and stale.exists()
    assert run_folder.check_worker_folder(out, resume=False, tf_config=tf_config) == stale and not stale.exists()


def test_with_crop_the_validation_crops_come_from_held_out_photographs_only():
    # Six flat photographs, each its own grey level: a crop says which photograph it came from.
    import data

    levels = np.arange(6, dtype=np.uint8) * 40 + 20
    images = np.repeat(levels, 100 * 120).reshape(6, 100, 120)
    source = data.ImageSource(images, images[:1], "array", "array", "f", 1)
    config = {**run_folder.DEFAULTS, "grid": [2, 2], "crop": True, "val_size": 2, "seed": 3, "image_shape": [48, 48]}
    train, val = run_folder.split_training_images(config, source)
    _, held_out = utils.train_val_split(6, 2, 3)
    assert val.shape == (crops.VAL_CROPS, 48, 48)
    assert set(np.unique(val)) <= set(levels[held_out])
    assert set(np.unique(train.draw(0, np.arange(64)))) <= set(np.delete(levels, held_out))
    again = run_folder.split_training_images(config, source)[1]
    np.testing.assert_array_equal(val, again)  # fixed by the seed
