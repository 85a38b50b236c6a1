"""Train a network to solve heatmap-style jigsaw puzzles on MNIST digits.

    python train.py --data ../shared/data/mnist.npz --grid 2 --out runs/mnist-2x2

Every epoch shuffles every training digit afresh; heatmap targets are made batch by
batch, so memory does not grow with the grid. A fixed-seed validation set is split off
the training digits (the MNIST test split is never touched here). The run folder ends up
holding best.keras, final.keras, config.json (every setting: evaluate.py needs no
repeated flags), log.csv, loss.png and val_metrics.json. While training, the run lives in
OUT.partial; it becomes OUT only when training finishes, and --resume continues it after
an interruption.
"""

import csv
import os
import pathlib
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import utils
from evaluate import CleanArgumentParser, format_table, run_script

DEFAULTS = dict(
    grid="2",
    epochs=5,
    batch_size=128,
    learning_rate=2e-3,
    sigma=None,
    data=None,
    train_size=None,
    val_size=None,
    arch="transformer",
    loss="softmax",
    dim=128,
    blocks=4,
    heads=4,
    filters=16,
    depth=2,
    warmup_steps=300,
    decode="hungarian",
    seed=0,
    strategy="single",
    lr_schedule="cosine",
    dtype_policy="float32",
    out="runs/jigsaw",
)
ARCHS = ("transformer", "unet")
LR_SCHEDULES = ("cosine", "constant")
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("single", "mirrored", "multiworker")


def get_args(argv=None):
    d = DEFAULTS
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="train.py")
    parser.add_argument("--grid", default=d["grid"], help=f"pieces per side: N for NxN or RxC (default {d['grid']})")
    parser.add_argument("--epochs", type=int, default=d["epochs"], help=f"passes over the training digits, each with fresh shuffles (default {d['epochs']})")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"], help=f"puzzles per step (default {d['batch_size']})")
    parser.add_argument("--learning-rate", type=float, default=d["learning_rate"], help=f"Adam's peak learning rate, reached after the warm-up, then cosine-decayed to 0 (default {d['learning_rate']})")
    parser.add_argument("--warmup-steps", type=int, default=d["warmup_steps"], help=f"steps of linear learning-rate warm-up from 0, at most a tenth of the run (default {d['warmup_steps']})")
    parser.add_argument("--sigma", type=float, default=d["sigma"], help="heatmap std in pixels (default: a quarter of the piece side, 3.5 at 2x2)")
    parser.add_argument("--data", default=d["data"], help="MNIST source: an .npz in Keras' layout, a folder of IDX files, or 'sample' (default: Keras' download, else the bundled sample with a warning)")
    parser.add_argument("--train-size", type=int, default=d["train_size"], help="use only this many training digits (default: all left after the validation split)")
    parser.add_argument("--val-size", type=int, default=d["val_size"], help="validation digits split off the training digits with --seed (default: 5000, or a sixth of the training digits if fewer than 30,000)")
    parser.add_argument("--arch", default=d["arch"], choices=ARCHS, help="'transformer': the grid-aligned piece transformer (default); 'unet': the original port's U-Net")
    parser.add_argument("--loss", default=d["loss"], choices=utils.LOSSES, help="'softmax': cross-entropy of softmaxed heatmaps (default); 'mse': mean squared error on the Gaussians, as the original port")
    parser.add_argument("--dim", type=int, default=d["dim"], help=f"transformer: width of each piece's vector (default {d['dim']})")
    parser.add_argument("--blocks", type=int, default=d["blocks"], help=f"transformer: attention blocks (default {d['blocks']})")
    parser.add_argument("--heads", type=int, default=d["heads"], help=f"transformer: attention heads, dividing --dim (default {d['heads']})")
    parser.add_argument("--filters", type=int, default=d["filters"], help=f"U-Net filters at the top level, doubling per level (default {d['filters']})")
    parser.add_argument("--depth", type=int, default=d["depth"], help=f"U-Net downsamplings (default {d['depth']}: 16/32/64 filters)")
    parser.add_argument("--decode", default=d["decode"], choices=utils.DECODE_METHODS, help=f"decoding for the reported validation metrics (default {d['decode']})")
    parser.add_argument("--seed", type=int, default=d["seed"], help=f"seed of the split, the shuffles and the weights (default {d['seed']})")
    parser.add_argument("--lr-schedule", default=d["lr_schedule"], choices=LR_SCHEDULES, help="'cosine': decay the learning rate to 0 over the run (default); 'constant': keep it")
    parser.add_argument("--dtype-policy", default=d["dtype_policy"], choices=DTYPE_POLICIES, help="Keras dtype policy: 'float32' (default) or mixed precision (bfloat16 for CPUs, float16 for GPUs); the heatmap layer and the loss stay float32")
    parser.add_argument("--strategy", default=d["strategy"], choices=STRATEGIES, help="'single': one device (default); 'mirrored': every local GPU (or logical device), the global --batch-size split across them; 'multiworker': several hosts, configured through TF_CONFIG, one process per host")
    parser.add_argument("--out", default=d["out"], help=f"run folder to create (default {d['out']})")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it already exists (only once the new run has finished)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in OUT.partial with its saved settings")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    return parser.parse_args(argv)


def check_settings(config):
    """Raises ValueError naming the first bad setting."""
    positive = ("epochs", "batch_size", "filters", "dim", "heads")
    for key in positive:
        if config[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be a positive integer, got {config[key]}")
    for key in ("depth", "blocks", "warmup_steps"):
        if config[key] < 0:
            raise ValueError(f"--{key.replace('_', '-')} must be >= 0, got {config[key]}")
    if config["dim"] % config["heads"]:
        raise ValueError(f"--heads ({config['heads']}) must divide --dim ({config['dim']})")
    if not config["learning_rate"] > 0:
        raise ValueError(f"--learning-rate must be positive, got {config['learning_rate']}")
    if config["sigma"] is not None and not config["sigma"] > 0:
        raise ValueError(f"--sigma must be a positive number of pixels, got {config['sigma']}")
    if config["train_size"] is not None and config["train_size"] < 1:
        raise ValueError(f"--train-size must be positive, got {config['train_size']}")
    if config["val_size"] is not None and config["val_size"] < 1:
        raise ValueError(f"--val-size must be positive, got {config['val_size']}")
    for key, choices in (("arch", ARCHS), ("loss", utils.LOSSES), ("lr_schedule", LR_SCHEDULES), ("dtype_policy", DTYPE_POLICIES)):
        if config[key] not in choices:
            raise ValueError(f"unknown {key.replace('_', '-')} {config[key]!r}; choose one of {', '.join(choices)}")
    if config["strategy"] not in STRATEGIES:
        raise ValueError(f"unknown strategy {config['strategy']!r}; choose one of {', '.join(STRATEGIES)}")
    if config["decode"] not in utils.DECODE_METHODS:
        raise ValueError(f"unknown decode method {config['decode']!r}; choose one of {', '.join(utils.DECODE_METHODS)}")
    utils.parse_grid(config["grid"])


def check_run_folder(out, overwrite, resume):
    """Checks OUT before anything is written; returns ``(out, staging)`` paths.

    The run lives in ``OUT.partial`` (``staging``) until it finishes, so OUT never holds a
    half-written run.
    """
    out = pathlib.Path(out).expanduser()
    staging = out.with_name(out.name + ".partial")
    if out.exists() and not overwrite:
        raise ValueError(f"run folder {out} already exists; choose another --out or pass --overwrite")
    if out.exists() and not (out / "config.json").is_file():
        # --overwrite deletes OUT: never let a typo (--out .) delete something else.
        raise ValueError(f"--overwrite replaces only a run folder (one holding config.json); {out} is not one")
    if resume and not (staging / "config.json").is_file():
        raise FileNotFoundError(f"nothing to resume: {staging} holds no interrupted run")
    if not resume and staging.exists():
        raise ValueError(f"{staging} holds an interrupted run; pass --resume to continue it, or delete it")
    return out, staging


def train(**settings):
    """Trains one run; every keyword is a train.py flag (see DEFAULTS). Notebook-friendly.

    ``verbose``: 0 silent, 1 a progress bar (default), 2 one line per epoch; the
    summaries before and after training print unless it is 0.

    Example:
        >>> train(grid=3, epochs=2, data="sample", out="runs/try-3x3")

    Returns:
        A dict: ``run`` (the finished run folder) and ``val`` (validation metrics of the
        final model, by decoding).
    """
    unknown = set(settings) - set(DEFAULTS) - {"overwrite", "resume", "verbose"}
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    resume = settings.pop("resume", False)
    overwrite = settings.pop("overwrite", False)
    verbose = settings.pop("verbose", 1)
    config = {**DEFAULTS, **settings}
    check_settings(config)
    out, staging = check_run_folder(config["out"], overwrite, resume)
    if resume:
        # A run saved before --arch existed was the original U-Net with MSE and no warm-up.
        before_arch = {"arch": "unet", "loss": "mse", "warmup_steps": 0}
        config = {**DEFAULTS, **before_arch, **utils.load_json(staging / "config.json"), "out": config["out"]}

    # Everything that can be wrong with the data is found before a file is written.
    (x_train, _), _ = utils.load_mnist(config["data"])
    grid = utils.check_grid(config["grid"], x_train.shape[1:])
    if config["val_size"] is None:
        config["val_size"] = min(5000, len(x_train) // 6)
    if config["val_size"] >= len(x_train):
        raise ValueError(f"--val-size {config['val_size']} leaves no training digits: the data has {len(x_train)}")
    train_index, val_index = utils.train_val_split(len(x_train), config["val_size"], config["seed"])
    train_index = train_index[: config["train_size"]]
    config.update(
        grid=list(grid),
        sigma=config["sigma"] or utils.default_sigma(x_train.shape[1:], grid),
        image_shape=list(x_train.shape[1:]),
        puzzle_shape=list(utils.padded_shape(x_train.shape[1:], grid)),
        num_pieces=grid[0] * grid[1],
        train_digits=len(train_index),
        val_digits=len(val_index),
    )

    if not resume:
        try:
            staging.mkdir(parents=True)
        except OSError as err:
            raise OSError(f"cannot create the run folder {staging}: {err.strerror or err}") from None
        utils.save_json(config, staging / "config.json")
    try:
        metrics = fit(staging, config, x_train[train_index], x_train[val_index], resume, verbose)
    except BaseException:
        # A run that failed before finishing an epoch leaves nothing behind; a later failure
        # (or Ctrl-C) keeps OUT.partial so that --resume can continue it.
        if (staging / "log.csv").exists():
            print(f"train.py: the run is kept in {staging}; continue it with --resume --out {out}", file=sys.stderr)
        else:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    if verbose:
        print(f"run saved to {out}")
    return {"run": str(out), "val": metrics}


def fit(folder, config, train_digits, val_digits, resume=False, verbose=1):
    """Builds the network and trains it in ``folder``; returns the final validation metrics."""
    import keras

    from model_utils import KERAS_LOSSES, JigsawValidation, PuzzleBatches, SetEpoch

    grid, sigma = tuple(config["grid"]), config["sigma"]
    height, width = config["puzzle_shape"]
    keras.utils.set_random_seed(config["seed"])
    batches = PuzzleBatches(train_digits, grid, sigma, config["batch_size"], config["seed"])
    schedule = config["learning_rate"]
    if config["lr_schedule"] == "cosine":
        # A short linear warm-up (attention is unstable at full rate from random weights),
        # then cosine decay to zero: fast early progress, then the small steps that settle
        # the last hard puzzles.
        steps = config["epochs"] * len(batches)
        warmup = min(config["warmup_steps"], steps // 10)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else schedule, decay_steps=steps - warmup, warmup_target=schedule if warmup else None, warmup_steps=warmup
        )
    strategy = make_strategy(config["strategy"])
    with strategy.scope():  # the model and its optimizer live on every replica
        model = build_model(config)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=KERAS_LOSSES[config["loss"]])
    if verbose:
        replicas = f", {strategy.num_replicas_in_sync} replicas" if config["strategy"] != "single" else ""
        network = "piece transformer" if config["arch"] == "transformer" else "U-Net"
        print(
            f"{grid[0]}x{grid[1]} puzzles of {height}x{width} px, sigma {sigma:g} px, {len(train_digits)} training and "
            f"{len(val_digits)} validation digits, {network} with {model.count_params():,} parameters, "
            f"{config['loss']} loss{replicas}"
        )

    validation = JigsawValidation(val_digits, grid, sigma, config["seed"], config["decode"], batch_size=256, loss=config["loss"])
    callbacks = [
        SetEpoch(batches),
        validation,  # first, so that the callbacks below see its val_loss and val_exact
        keras.callbacks.ModelCheckpoint(str(folder / "best.keras"), monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(str(folder / "log.csv"), append=resume),
        keras.callbacks.BackupAndRestore(str(folder / "backup")),
    ]
    started = time.perf_counter()
    model.fit(batches, epochs=config["epochs"], callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - started
    if validation.metrics is None:  # resumed after the last epoch: nothing left to fit
        validation.set_model(model)
        validation.score()
    model.save(folder / "final.keras")
    utils.plot_history(read_log(folder / "log.csv"), folder / "loss.png")
    utils.save_json({"decode": config["decode"], "train_seconds": round(seconds, 1), "parameters": model.count_params(), **validation.metrics}, folder / "val_metrics.json")
    if verbose:
        print(f"{len(val_digits)} validation puzzles (digits held out of training), final model, after {seconds:.0f} s of training:")
        print(format_table(validation.metrics))
    return validation.metrics


def build_model(config):
    """The untrained network a run's config describes (``arch`` and its settings)."""
    from model_utils import build_piece_transformer, build_unet

    shape = (*config["puzzle_shape"], 1)
    if config["arch"] == "unet":
        return build_unet(shape, config["num_pieces"], config["filters"], config["depth"], config["dtype_policy"])
    return build_piece_transformer(shape, config["grid"], config["dim"], config["blocks"], config["heads"], config["dtype_policy"])


def make_strategy(name):
    """The ``tf.distribute`` strategy for ``--strategy``.

    Keras splits each global batch of PuzzleBatches across the strategy's replicas.
    ``multiworker`` reads the cluster from the ``TF_CONFIG`` environment variable, as
    every TensorFlow multi-worker job does; each host runs the same command and writes
    its own run folder (give each its own disk, or its own --out).
    """
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def read_log(path):
    """Reads Keras' CSV log into ``{column: [floats]}``."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def main(argv=None):
    args = vars(get_args(argv))
    verbose = 2 if args.pop("quiet") else 1
    run_script("train.py", lambda: train(**args, verbose=verbose))


if __name__ == "__main__":
    main()
