"""The run folder: what train.py writes, what evaluate.py and the benchmarks read.

This module is the one owner of the run-folder format and of the settings that describe
a run. A finished run folder ``OUT`` holds:

* ``config.json``: every setting of the run, resolved (grid, sigma, sizes, seed...);
* ``best.keras`` (lowest validation loss) and ``final.keras``;
* ``log.csv`` (one row per epoch) and ``loss.png``;
* ``val_metrics.json``: the final model's validation metrics and training time;
* ``metrics.json``, once ``evaluate.py`` has scored it;
* ``tensorboard/``, with ``train.py --tensorboard``.

While training, the run lives in ``OUT.partial`` (with Keras' ``backup/`` for
``--resume``) and becomes ``OUT`` only when it finishes, so ``OUT`` is never half-written.

Only the standard library and ``utils`` are imported here: the scripts check their
settings and find their runs before TensorFlow starts.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import shutil

import numpy as np

import borders
import crops
import data
import tasks
import utils

# ------------------------------------------------------------------------ file names
CONFIG = "config.json"
BEST = "best.keras"
FINAL = "final.keras"
LOG = "log.csv"
LOSS_PLOT = "loss.png"
VAL_METRICS = "val_metrics.json"
METRICS = "metrics.json"
BACKUP = "backup"
TENSORBOARD = "tensorboard"
PARTIAL = ".partial"  # suffix of a run folder while it trains

# ----------------------------------------------------------------- allowed settings
ARCHS = ("transformer", "unet")
LR_SCHEDULES = ("cosine", "constant")
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("single", "mirrored", "multiworker")
SPLITS = ("test", "val", "all")
PRETEXTS = ("jigsaw", "denoise")
EDGE_BIASES = ("learned", "mse", "gradient", "none")
# setting -> (what it is called in an error, its allowed values)
CHOICES = {
    "arch": ("network", ARCHS),
    "loss": ("loss", utils.LOSSES),
    "decode": ("decode method", utils.DECODE_METHODS),
    # evaluate.py --decode: the network's decodings, the border solver (which needs no network), or
    # layout decoding (the network's heatmaps and the borders together).
    "evaluate_decode": ("decode method", (*utils.DECODE_METHODS, borders.DECODE, borders.LAYOUT)),
    "lr_schedule": ("learning-rate schedule", LR_SCHEDULES),
    "dtype_policy": ("dtype policy", DTYPE_POLICIES),
    "strategy": ("strategy", STRATEGIES),
    "split": ("split", SPLITS),
    "pretext": ("pretext", PRETEXTS),
    "edge_bias": ("edge bias", EDGE_BIASES),
    "task": ("task", tasks.TRANSFER_TASKS),
    "mode": ("mode", tasks.TRANSFER_MODES),
}

# Every train.py setting and its default: the schema of config.json.
DEFAULTS = dict(
    grid="2",
    pretext="jigsaw",
    epochs=5,
    batch_size=128,
    learning_rate=2e-3,
    sigma=None,
    data=None,
    image_size=None,  # None: MNIST at its own size, an array at its own, a folder at data.DEFAULT_IMAGE_SIZE
    channels=None,  # None: what the data holds (1 if every image is grayscale, else 3)
    strict=False,
    train_size=None,
    val_size=None,
    val_data=None,  # None: validation images split off the training images
    crop=False,  # fresh random crops of the training images (crops.py) instead of the size rule
    crops_per_epoch=crops.DEFAULT_CROPS_PER_EPOCH,
    jitter=0.0,
    gray=0.0,
    arch="transformer",
    loss=None,  # the network's own (NETWORK_DEFAULTS)
    dim=128,
    blocks=4,
    heads=4,
    piece_filters=16,
    edge_bias="learned",
    gap=0,
    filters=16,
    depth=2,
    warmup_steps=None,  # the network's own (NETWORK_DEFAULTS)
    decode="hungarian",
    seed=0,
    strategy="single",
    lr_schedule="cosine",
    dtype_policy="float32",
    tensorboard=False,
    out="runs/jigsaw",
)
# The settings each network trains with unless a flag says otherwise: the piece transformer
# with the softmax loss and a short warm-up (attention is unstable at full rate from random
# weights), the original port's U-Net with its own loss and schedule (MSE, cosine decay from
# the first step), so that `--arch unet` alone is the original.
NETWORK_DEFAULTS = {
    "transformer": {"loss": "softmax", "warmup_steps": 300},
    "unet": {"loss": "mse", "warmup_steps": 0},
}
# What a config.json saved before a setting existed meant by leaving it out: the runs made
# before --arch were the original port's U-Net, trained with MSE and no warm-up. A setting
# missing from both tables takes its entry in DEFAULTS.
# Before --piece-filters and --edge-bias, the transformer's pieces went straight into one
# linear map, and its attention had no bias.
# Before --channels and --image-size, every run trained on MNIST's one channel at its own size.
MISSING_MEANT = {"arch": "unet", "loss": "mse", "warmup_steps": 0, "piece_filters": 0, "edge_bias": "none",
                 "channels": 1, "image_size": None}
# What train.py adds to the settings when it starts a run (evaluate.py needs these).
RESOLVED = ("grid", "sigma", "image_shape", "seed", "val_size")
# What train.py records about the images it split into training and validation images:
# where they came from ("download", "sample" or the --data path), their fingerprint
# (data.ImageSource.fingerprint), what kind of source it was (data.ImageSource.kind) and the
# files it skipped. None in runs saved before it did.
DATA_RECORD = {"data_origin": None, "data_fingerprint": None, "data_kind": None, "skipped_files": None}


def choices(setting) -> tuple:
    """The allowed values of a setting with a fixed list (``arch``, ``loss``, ``decode``...)."""
    return CHOICES[setting][1]


def check_choice(setting, value):
    """Raises ValueError unless ``value`` is one of the setting's allowed values."""
    what, allowed = CHOICES[setting]
    utils.check_choice(what, value, allowed)


def with_network_defaults(config) -> dict:
    """``config`` with every setting left at None (``loss``, ``warmup_steps``) set to its network's own.

    Raises:
        ValueError: if the network is not one of ``ARCHS``.
    """
    check_choice("arch", config["arch"])
    own = NETWORK_DEFAULTS[config["arch"]]
    return {**config, **{key: value for key, value in own.items() if config.get(key) is None}}


def flag(setting) -> str:
    """The command-line flag of a setting: ``batch_size`` -> ``--batch-size``."""
    return "--" + setting.replace("_", "-")


def check_settings(config):
    """Checks train settings (a dict like ``DEFAULTS``); raises ValueError naming the first bad one.

    Settings left to their network (None in ``DEFAULTS``) are checked as ``with_network_defaults`` sets them.
    """
    config = with_network_defaults(config)
    for key in ("epochs", "batch_size", "filters", "dim", "heads"):
        if config[key] < 1:
            raise ValueError(f"{flag(key)} must be a positive integer, got {config[key]}")
    for key in ("depth", "blocks", "warmup_steps", "gap", "piece_filters"):
        if config[key] < 0:
            raise ValueError(f"{flag(key)} must be >= 0, got {config[key]}")
    if config["dim"] % config["heads"]:
        raise ValueError(f"--heads ({config['heads']}) must divide --dim ({config['dim']})")
    if not config["learning_rate"] > 0:
        raise ValueError(f"--learning-rate must be positive, got {config['learning_rate']}")
    if config["sigma"] is not None and not config["sigma"] > 0:
        raise ValueError(f"--sigma must be a positive number of pixels, got {config['sigma']}")
    if config["crops_per_epoch"] < 1:
        raise ValueError(f"--crops-per-epoch must be a positive integer, got {config['crops_per_epoch']}")
    if not 0 <= config["jitter"] < 1:
        raise ValueError(f"--jitter must lie in [0, 1), got {config['jitter']}")
    if not 0 <= config["gray"] <= 1:
        raise ValueError(f"--gray must lie in [0, 1], got {config['gray']}")
    for key in ("train_size", "val_size"):
        if config[key] is not None and config[key] < 1:
            raise ValueError(f"{flag(key)} must be positive, got {config[key]}")
    for key in ("arch", "pretext", "loss", "decode", "lr_schedule", "dtype_policy", "strategy", "edge_bias"):
        check_choice(key, config[key])
    utils.parse_grid(config["grid"])
    data.parse_image_size(config["image_size"])
    if config["channels"] not in (None, *data.CHANNELS):
        raise ValueError(f"--channels must be 1 or 3, got {config['channels']}")


def tiles(config, shape) -> tuple[int, int]:
    """How many of a transformer run's pieces tile an input of ``shape`` ``(H, W)``: ``(rows, cols)``.

    Raises:
        ValueError: if the pieces do not tile it.
    """
    rows, cols = config["grid"]
    piece = utils.piece_shape(config["puzzle_shape"], config["grid"])
    if shape[0] % piece[0] or shape[1] % piece[1]:
        raise ValueError(
            f"the {rows}x{cols} network's {piece[0]}x{piece[1]} px pieces do not tile a {shape[0]}x{shape[1]} "
            f"input: give a size that is a multiple of {piece[0]}x{piece[1]}"
        )
    return shape[0] // piece[0], shape[1] // piece[1]


# ------------------------------------------------------------------- config files
def read_config(path) -> dict:
    """Reads a run's ``config.json``, filling in what configs saved before a setting existed meant.

    Args:
        path: the ``config.json`` file, or the run folder holding it.

    Raises:
        FileNotFoundError: if there is no config.json.
        ValueError: if it is not a train.py run config.
    """
    path = pathlib.Path(path).expanduser()
    if path.is_dir() or path.suffix != ".json":
        path = path / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a train.py run folder holds its settings there")
    saved = utils.load_json(path)
    missing = [key for key in RESOLVED if key not in saved]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: is it a train.py run config?")
    if isinstance(saved.get("edge_bias"), bool):  # once a switch: on meant the border-difference bias
        saved["edge_bias"] = "mse" if saved["edge_bias"] else "none"
    return {**DEFAULTS, **MISSING_MEANT, **DATA_RECORD, **saved}


def record_digits(config, x_train, origin, action):
    """Records in ``config`` which training images the run splits; refuses others for a run that has them.

    Args:
        config: the run's settings; a run saved before its data was recorded is not checked.
        x_train: the training split that the run's validation images come from: ``(N, H, W[, C])``
            uint8, or its fingerprint (``data.ImageSource.fingerprint``).
        origin: where they came from (``data.ImageSource.origin``).
        action: what is being done with them, for the message (``"--resume"``, ``"--split val"``).

    Raises:
        ValueError: if the run recorded other images.
    """
    fingerprint = x_train if isinstance(x_train, str) else utils.digits_fingerprint(x_train)
    recorded = config.get("data_fingerprint")
    if recorded is not None and recorded != fingerprint:
        raise ValueError(
            f"{action}: these training images ({origin}, fingerprint {fingerprint}) are not the ones the run split "
            f"its validation images from ({config['data_origin']}, fingerprint {recorded}); give --data that source"
        )
    config.update(data_origin=origin, data_fingerprint=fingerprint)


def split_training_images(config, source):
    """A run's training and validation images, as its settings (``val_size``, ``seed``, ``crop``, ``val_data``) say.

    ``train.py`` trains on the first and validates on the second; ``evaluate.py --split val``
    scores the second. With ``val_data``, every image of that source is a validation image and
    the training images are all the source's; else ``val_size`` images (with ``crop``: whole
    photographs) are split off with ``seed``, and with ``crop`` their ``crops.VAL_CROPS`` crops
    fixed by ``seed`` are the validation images.

    Args:
        config: the run's settings, ``val_size`` resolved; ``image_shape`` (the crops' size with
            ``crop``) is taken from ``source`` when the run has not recorded it yet.
        source: the run's training ``data.ImageSource``, opened at its size and channels (with
            ``crop``, an array at its own size: ``data.open_images(keep_size=True)``).

    Returns:
        ``(train, val)``: the training images (an array, ``data.ImageFiles``, or with ``crop`` a
        ``crops.RandomCrops``), and the validation images (an array or ``data.ImageFiles``).
    """
    shape, channels = tuple(config.get("image_shape") or source.image_shape), source.channels
    train_index, val_index = utils.train_val_split(len(source.train), config["val_size"], config["seed"])
    train_index = train_index[: config["train_size"]]

    def images(index):
        return source.train.subset(index) if source.streamed else source.train[index]

    train = images(train_index)
    if config.get("crop"):
        train = crops.RandomCrops(train, shape, channels, config["crops_per_epoch"], config["seed"],
                                  jitter=config["jitter"], gray=config["gray"])
    if config.get("val_data") is not None:
        other = data.open_images(config["val_data"], shape, config["grid"], channels, config["strict"])
        if other.image_shape != tuple(shape):
            raise ValueError(f"--val-data {config['val_data']} comes out {other.image_shape[0]}x"
                             f"{other.image_shape[1]} px, the training images {shape[0]}x{shape[1]}: give --image-size")
        val = other.train.joined(other.test) if other.streamed else np.concatenate([other.train, other.test])
    elif config.get("crop"):  # fixed crops of the held-out photographs, never of the training ones
        val = crops.RandomCrops(images(val_index), shape, channels, seed=config["seed"]).fixed(crops.VAL_CROPS)
    else:
        val = images(val_index)
    return train, val


def write_config(config, folder) -> None:
    """Writes ``config.json`` into ``folder`` (atomically)."""
    utils.save_json(config, pathlib.Path(folder) / CONFIG)


def read_log(path) -> dict:
    """Reads Keras' CSV log (a run's ``log.csv``, or the run folder) into ``{column: [floats]}``."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / LOG
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


# ------------------------------------------------------------ making a run folder
def staging_folder(out) -> pathlib.Path:
    """Where ``out`` (a run folder, a saved cell, a results file) is written before it lands whole:
    ``OUT.partial``, renamed to ``OUT`` once complete."""
    out = pathlib.Path(out)
    return out.with_name(out.name + PARTIAL)


def interrupted(out) -> bool:
    """Whether the run ``out`` was stopped mid-training: its ``OUT.partial`` holds a config, so
    ``--resume`` can go on (a staging folder without one is no run to resume)."""
    return (staging_folder(out) / CONFIG).is_file()


def check_out(out, overwrite=False, resume=False):
    """Checks ``--out`` before anything is written; returns ``(out, staging)`` paths.

    Raises:
        ValueError: if OUT exists (without ``overwrite``), is not a run folder (with
            ``overwrite``), or an interrupted run is in the way (without ``resume``).
        FileNotFoundError: if ``resume`` finds no interrupted run.
    """
    out = pathlib.Path(out).expanduser()
    staging = staging_folder(out)
    if out.exists() and not overwrite:
        raise ValueError(f"run folder {out} already exists; choose another --out or pass --overwrite")
    if out.exists() and not (out / CONFIG).is_file():
        # --overwrite deletes OUT: never let a typo (--out .) delete something else.
        raise ValueError(f"--overwrite replaces only a run folder (one holding {CONFIG}); {out} is not one")
    if resume and not interrupted(out):
        raise FileNotFoundError(f"nothing to resume: {staging} holds no interrupted run")
    if not resume and staging.exists():
        raise ValueError(f"{staging} holds an interrupted run; pass --resume to continue it, or delete it")
    return out, staging


def create_staging(staging, config) -> None:
    """Creates ``OUT.partial`` and writes the config into it."""
    try:
        pathlib.Path(staging).mkdir(parents=True)
    except OSError as err:
        raise OSError(f"cannot create the run folder {staging}: {err.strerror or err}") from None
    write_config(config, staging)


def discard_failed(staging) -> bool:
    """After a failure: keeps ``OUT.partial`` if an epoch finished (so --resume can go on), else deletes it.

    Returns:
        True if it was kept.
    """
    staging = pathlib.Path(staging)
    if (staging / LOG).exists():
        return True
    shutil.rmtree(staging, ignore_errors=True)
    return False


def publish(staging, out) -> None:
    """Turns the finished ``OUT.partial`` into ``OUT``, replacing an older run there."""
    out = pathlib.Path(out)
    if out.exists():
        shutil.rmtree(out)
    pathlib.Path(staging).rename(out)


def worker_folder(out, tf_config=None) -> pathlib.Path:
    """Where a multi-worker process that is not the chief trains: ``OUT.worker-I.partial`` (I: its index).

    As in Keras' multi-worker guide, such a worker writes to a place of its own and deletes it
    at the end; the chief alone writes ``OUT``. The folder holds the worker's backup, so a
    worker restarted after a fault (``--resume``) continues where the cluster stopped.
    """
    kind, index = task_of(tf_config)
    out = pathlib.Path(out).expanduser()
    return out.with_name(f"{out.name}.{kind}-{index}{PARTIAL}")


def check_worker_folder(out, resume=False, tf_config=None) -> pathlib.Path:
    """``worker_folder``, checked: with ``resume`` it must hold an interrupted run; without, an old one is dropped.

    Raises:
        FileNotFoundError: if ``resume`` finds no interrupted run there.
    """
    folder = worker_folder(out, tf_config)
    if resume and not (folder / CONFIG).is_file():
        raise FileNotFoundError(f"nothing to resume: {folder} holds no interrupted run of this worker")
    if not resume and folder.exists():
        shutil.rmtree(folder)  # a worker's folder is scratch: the chief's OUT.partial says whether a run is in the way
    return folder


def task_of(tf_config=None) -> tuple:
    """This process's ``(type, index)`` in the cluster that ``TF_CONFIG`` describes; ``(None, 0)`` without one.

    Raises:
        ValueError: if TF_CONFIG is not JSON.
    """
    task = _read_tf_config(tf_config).get("task", {})
    return task.get("type"), task.get("index", 0)


def is_chief(tf_config=None) -> bool:
    """Whether this process writes the run in multi-worker training, read from ``TF_CONFIG``.

    As in TensorFlow's multi-worker guide: the task of type ``chief``, or worker 0 when
    the cluster has no chief; a process with no ``TF_CONFIG`` is its own chief.
    """
    config = _read_tf_config(tf_config)
    task = config.get("task", {})
    kind, index = task.get("type"), task.get("index", 0)
    if kind is None:
        return True
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config.get("cluster", {}))


def _read_tf_config(tf_config=None) -> dict:
    """``TF_CONFIG`` (or the text given) as a dict; ``{}`` when it is not set."""
    text = os.environ.get("TF_CONFIG", "{}") if tf_config is None else tf_config
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}): {text[:200]!r}") from None


# ------------------------------------------------------------------ finding a run
def find_model(model_path):
    """Resolves a run folder or ``.keras`` file to ``(model_file, config)``.

    A run folder gives its ``best.keras`` (else ``final.keras``); a ``.keras`` file needs
    the run's ``config.json`` beside it.

    Raises:
        FileNotFoundError: if the model file or its config.json is missing.
        ValueError: if the file is not a ``.keras`` model or the config not a run's.
    """
    path = pathlib.Path(model_path).expanduser()
    if path.is_dir():
        model_file = next((path / name for name in (BEST, FINAL) if (path / name).is_file()), None)
        if model_file is None:
            raise FileNotFoundError(f"run folder {path} holds no {BEST} or {FINAL}")
    elif path.is_file():
        model_file = path
    else:
        raise FileNotFoundError(f"no model at {path} (give a run folder or a .keras file)")
    if model_file.suffix != ".keras":
        raise ValueError(f"{model_file} is not a .keras model file")
    config_file = model_file.parent / CONFIG
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} is missing: the grid and sigma are read from the run's config")
    return model_file, read_config(config_file)
