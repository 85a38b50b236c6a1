"""Train a network to solve heatmap-style jigsaw puzzles on MNIST digits or on your own images.

    python train.py --grid 2 --out runs/mnist-2x2                              # Keras' MNIST download
    python train.py --data path/to/mnist.npz --grid 2 --out runs/mnist-2x2     # a local copy
    python train.py --data sample/photos --image-size 48 --grid 3 --out runs/photos   # a folder of images

Every epoch shuffles every training image afresh; heatmap targets are made batch by
batch, so only one batch of them is ever held (memory still grows with the grid: a batch
holds K heatmaps; docs/benchmarks.md measures how much). A folder of images is decoded batch
by batch while the network trains, never read whole (data.py). A fixed-seed validation set is
split off the training images (the test split is never touched here). The run folder
(``run_folder`` describes it) holds the models, every setting in config.json (so
evaluate.py needs no repeated flags), the log and the validation metrics. While training,
the run lives in OUT.partial; it becomes OUT only when training finishes, and --resume
continues it after an interruption.
"""

import argparse
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import crops
import data
import run_folder
import tasks
import utils
from cli import CleanArgumentParser, format_table, run_script
from run_folder import DEFAULTS, check_settings


def get_args(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="train.py", examples=[
        "python train.py --out runs/first                     # 2x2, the default network, MNIST or the sample",
        "python train.py --arch unet --grid 2 --out runs/unet  # the original port's U-Net, loss and schedule",
        "python train.py --data sample/photos --image-size 48 --grid 3 --out runs/photos   # a folder of images",
    ])
    for add_flags in (add_puzzle_flags, add_network_flags, add_training_flags, add_run_flags):
        add_flags(parser, DEFAULTS)
    return parser.parse_args(argv)


def add_puzzle_flags(parser, d):
    """The puzzles: grid, heatmap label, images."""
    add = parser.add_argument
    add("--grid", default=d["grid"], help=f"pieces per side: N for NxN or RxC (default {d['grid']})")
    parser.add_choice("pretext", d["pretext"],
                      "'jigsaw': solve shuffled puzzles (default); 'denoise': the control for transfer.py, the same "
                      "network restoring images with a quarter of their pixels blanked and noise added (MSE loss, "
                      "one output map)")
    add("--gap", type=int, default=d["gap"],
        help="jigsaw without its shortcut (solving a puzzle by matching the pixels on either side of a border): "
             "blank this many pixels along every side of every piece, so that "
             "neighbouring pieces' visible parts lie 2 x GAP px apart and no border can be matched (default 0)")
    add("--sigma", type=float, default=d["sigma"],
        help="heatmap std in pixels (default: a quarter of the piece side, 3.5 at 2x2)")
    add("--data", default=d["data"],
        help=f"the images: {data.SOURCE_HELP}, or 'photos' (the bundled folder of photo crops) "
             "(default: Keras' MNIST download, else the bundled sample with a warning)")
    add("--image-size", default=d["image_size"],
        help=f"training size, H or HxW px, rounded down to a multiple of the grid; each image is resized to cover "
             f"it, keeping its aspect ratio, and cropped at the centre (default: MNIST and arrays their own size, "
             f"a folder {data.DEFAULT_IMAGE_SIZE})")
    add("--channels", type=int, default=d["channels"],
        help="1 (grayscale) or 3 (RGB) (default: what the data holds: 1 if every image is grayscale, else 3)")
    add("--strict", action="store_true",
        help="a file in a --data folder that is not a readable image is an error (default: skipped and counted)")
    add("--train-size", type=int, default=d["train_size"],
        help="use only this many training images (default: all left after the validation split)")
    add("--val-size", type=int, default=d["val_size"],
        help="validation images split off the training images with --seed "
             "(default: 5000, or a sixth of the training images if fewer than 30,000; with --crop, photographs, "
             f"of which {crops.VAL_CROPS} fixed crops are the validation images)")
    add("--val-data", default=d["val_data"],
        help="validation images from this source instead (every image of it, at the training size and channels), "
             "e.g. crops of photographs the training never sees")
    add("--crop", action="store_true",
        help="train on a fresh random crop of a training image every time one is drawn (a side of "
             f"{100 * crops.SCALE[0]:.0f} to {100 * crops.SCALE[1]:.0f} %% of its shorter side, resized to "
             "--image-size, flipped "
             "left to right half the time): many puzzles from a few large photographs")
    add("--crops-per-epoch", type=int, default=d["crops_per_epoch"],
        help=f"with --crop: puzzles an epoch (default {d['crops_per_epoch']})")
    add("--jitter", type=float, default=d["jitter"],
        help="with --crop: colour jitter, brightness, contrast and saturation scaled by up to 1 +- JITTER (default 0)")
    add("--gray", type=float, default=d["gray"],
        help="with --crop: the share of colour crops turned gray (default 0)")


def add_network_flags(parser, d):
    """The network and its loss."""
    add = parser.add_argument
    parser.add_choice("arch", d["arch"],
                      "'transformer': the grid-aligned piece transformer (default); 'unet': the original port's U-Net, "
                      "with its own loss and schedule unless --loss or --warmup-steps says otherwise")
    # Left out of the parsed flags unless given, so that train() can tell a --loss the
    # denoising pretext cannot use from the default.
    parser.add_choice("loss", argparse.SUPPRESS,
                      "'softmax': cross-entropy of softmaxed heatmaps (the transformer's default); "
                      "'mse': mean squared error on the Gaussians (the U-Net's default, as the original port); "
                      "--pretext denoise always trains with mse")
    add("--dim", type=int, default=d["dim"], help=f"transformer: width of each piece's vector (default {d['dim']})")
    add("--blocks", type=int, default=d["blocks"], help=f"transformer: attention blocks (default {d['blocks']})")
    add("--heads", type=int, default=d["heads"],
        help=f"transformer: attention heads, dividing --dim (default {d['heads']})")
    add("--piece-filters", type=int, default=d["piece_filters"],
        help=f"transformer: filters of the two 3x3 convolutions run inside each piece before it becomes one "
             f"vector; 0 for none, the pixels straight into one linear map (default {d['piece_filters']})")
    parser.add_choice("edge_bias", d["edge_bias"],
                      "transformer: what biases every attention block towards pieces that fit side by side: "
                      "'learned' (default), keys of each piece's border features, matched in all four directions; "
                      "'mse', the mean squared difference of the touching border pixels; 'gradient', the border "
                      "solver's cost (each touching line predicted from its gradient) with how far each pair is "
                      "from either piece's best match; 'none'")
    add("--filters", type=int, default=d["filters"],
        help=f"U-Net filters at the top level, doubling per level (default {d['filters']})")
    add("--depth", type=int, default=d["depth"],
        help=f"U-Net downsamplings (default {d['depth']}: 16/32/64 filters)")
    parser.add_choice("dtype_policy", d["dtype_policy"],
                      "Keras dtype policy: 'float32' (default) or mixed precision (bfloat16 for CPUs, float16 for "
                      "GPUs); the heatmap layer and the loss stay float32")


def add_training_flags(parser, d):
    """The optimisation: epochs, batches, learning rate, devices."""
    add = parser.add_argument
    add("--epochs", type=int, default=d["epochs"],
        help=f"passes over the training images, each with fresh shuffles (default {d['epochs']})")
    add("--batch-size", type=int, default=d["batch_size"], help=f"puzzles per step (default {d['batch_size']})")
    add("--learning-rate", type=float, default=d["learning_rate"],
        help=f"Adam's peak learning rate, reached after the warm-up, then cosine-decayed to 0 "
             f"(default {d['learning_rate']})")
    own = run_folder.NETWORK_DEFAULTS
    add("--warmup-steps", type=int, default=d["warmup_steps"],
        help=f"steps of linear learning-rate warm-up from 0, at most a tenth of the run (default: "
             f"{own['transformer']['warmup_steps']} for the transformer, {own['unet']['warmup_steps']} for the U-Net)")
    parser.add_choice("lr_schedule", d["lr_schedule"],
                      "'cosine': decay the learning rate to 0 over the run (default); 'constant': keep it")
    add("--seed", type=int, default=d["seed"],
        help=f"seed of the split, the shuffles and the weights (default {d['seed']})")
    parser.add_choice("strategy", d["strategy"],
                      "'single': one device (default); 'mirrored': every local GPU (or logical device), the global "
                      "--batch-size split across them; 'multiworker': several hosts, configured through TF_CONFIG, "
                      "one process per host, only the chief writing OUT")


def add_run_flags(parser, d):
    """The run folder and what the run reports."""
    add = parser.add_argument
    parser.add_choice("decode", d["decode"], f"decoding for the reported validation metrics (default {d['decode']})")
    add("--tensorboard", action="store_true",
        help="also log every epoch (losses, validation exact and pieces rates, learning rate) for TensorBoard "
             "into OUT/tensorboard")
    add("--out", default=d["out"], help=f"run folder to create (default {d['out']})")
    add("--overwrite", action="store_true",
        help="replace OUT if it already exists (only once the new run has finished)")
    add("--resume", action="store_true", help="continue the interrupted run in OUT.partial with its saved settings")
    add("--quiet", action="store_true", help="one line per epoch instead of a progress bar")


def train(resume=False, overwrite=False, verbose=1, **settings):
    """Trains one run; every keyword is a train.py flag (see ``DEFAULTS``). Notebook-friendly.

    ``verbose``: 0 silent, 1 a progress bar (default), 2 one line per epoch; the
    summaries before and after training print unless it is 0.

    Example:
        >>> train(grid=3, epochs=2, data="sample", out="runs/try-3x3")

    Returns:
        A dict: ``run`` (the finished run folder; None in a multi-worker process that is
        not the chief) and ``val`` (validation metrics of the final model, by decoding).
    """
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    config = {**DEFAULTS, **{key: value for key, value in settings.items() if value is not None}}
    if config["pretext"] == "denoise":  # the denoiser restores pixel values: its loss is always MSE
        if settings.get("loss", "mse") != "mse":
            raise ValueError(f"--pretext denoise trains with the mse loss, not --loss {settings['loss']}")
        config["loss"] = "mse"
        if config["gap"]:
            raise ValueError("--gap cuts gaps between puzzle pieces: --pretext denoise has none")
    config = run_folder.with_network_defaults(config)  # config.json records the loss and warm-up used
    check_settings(config)
    chief = config["strategy"] != "multiworker" or run_folder.is_chief()
    if chief:
        out, staging = run_folder.check_out(config["out"], overwrite, resume)
    else:  # a multi-worker process that is not the chief: a folder of its own, deleted at the end
        out, staging = None, run_folder.check_worker_folder(config["out"], resume)
    if resume:
        config = {**run_folder.read_config(staging), "out": config["out"]}

    # Everything that can be wrong with the data is found before a file is written.
    source = data.open_images(config["data"], config["image_size"], utils.parse_grid(config["grid"]),
                              config["channels"], config["strict"], keep_size=config["crop"])
    run_folder.record_digits(config, source.fingerprint, source.origin, "--resume")
    train_images, val_images = split_images(config, source)
    if not resume:
        run_folder.create_staging(staging, config)
    try:
        metrics = fit(staging, config, train_images, val_images, resume, verbose)
    except BaseException:
        # A run that failed before finishing an epoch leaves nothing behind; a later failure
        # (or Ctrl-C) keeps OUT.partial (and each other worker's folder) so that --resume can continue it.
        if run_folder.discard_failed(staging):
            print(f"train.py: the run is kept in {staging}; continue it with --resume --out {config['out']}",
                  file=sys.stderr)
        raise
    if not chief:
        shutil.rmtree(staging, ignore_errors=True)
        return {"run": None, "val": metrics}
    if source.streamed:  # images that failed to decode while training (each named in a warning then)
        config["skipped_files"] = {**config["skipped_files"], "undecodable": len(source.train.unreadable)}
        run_folder.write_config(config, staging)
    run_folder.publish(staging, out)
    if verbose:
        print(f"run saved to {out}")
    return {"run": str(out), "val": metrics}


def split_images(config, source):
    """Splits the validation images off the training images and records the run's resolved settings in ``config``.

    Args:
        config: the run's settings.
        source: a ``data.ImageSource``.

    Returns:
        ``(train_images, val_images)``: the training images (``run_folder.split_training_images``),
        and the validation images decoded into memory: ``(N, H, W[, 3])`` uint8.
    """
    if config["crop"] and source.kind == "mnist":
        raise ValueError("--crop cuts random crops of large images: give a folder or an array of them, and "
                         "--image-size")
    image_shape = source.image_shape
    if config["crop"]:  # the crops' size (an array keeps its own)
        image_shape = data.grid_size(config["image_size"] or data.DEFAULT_IMAGE_SIZE, utils.parse_grid(config["grid"]))
    grid = utils.check_grid(config["grid"], image_shape)
    if config["val_data"] is not None:
        config["val_size"] = 0
    elif config["val_size"] is None:  # with --crop, photographs: a sixth of them
        config["val_size"] = max(1, len(source.train) // 6) if config["crop"] else min(5000, len(source.train) // 6)
    if config["val_size"] >= len(source.train):
        raise ValueError(f"--val-size {config['val_size']} leaves no training images: the data has "
                         f"{len(source.train)}")
    utils.check_gap(config["gap"], image_shape, grid)
    config.update(grid=list(grid), image_shape=list(image_shape))
    train, val = run_folder.split_training_images(config, source)
    val = val.load() if isinstance(val, data.ImageFiles) else val
    skipped = {**source.skipped, **(train.skipped if config["crop"] else {})}
    config.update(
        sigma=config["sigma"] or utils.default_sigma(image_shape, grid),
        image_shape=list(image_shape),
        # MNIST keeps its own size (padded to the grid); every other source was brought to this size.
        image_size=None if source.kind == "mnist" else list(image_shape),
        channels=source.channels,
        puzzle_shape=list(utils.padded_shape(image_shape, grid)),
        num_pieces=grid[0] * grid[1],
        train_digits=len(train.images if config["crop"] else train),  # with --crop: photographs
        val_digits=len(val),
        data_kind=source.kind,
        skipped_files=skipped,
    )
    return train, val


def fit(folder, config, train_images, val_images, resume=False, verbose=1):
    """Builds the network and trains it in ``folder``; returns the final validation metrics."""
    import keras

    from model_utils import KERAS_LOSSES, build_network
    from training import (
        DenoiseBatches,
        JigsawValidation,
        PuzzleBatches,
        SetEpoch,
        Stopwatch,
        make_strategy,
        worker_dataset,
    )

    strategy = make_strategy(config["strategy"])  # first: a multi-worker strategy must come before any other op
    keras.utils.set_random_seed(config["seed"])
    grid, sigma = tuple(config["grid"]), config["sigma"]
    denoise = config["pretext"] == "denoise"
    if config["gap"]:  # the images the puzzles are cut from lose their pieces' margins (training: batch by batch)
        val_images = utils.blank_margins(val_images, grid, config["gap"])
    # Images decoded from files: two threads decode the next batches while the network trains on this one.
    workers = 2 if isinstance(train_images, (data.ImageFiles, crops.RandomCrops)) else 1
    batches = (DenoiseBatches if denoise else PuzzleBatches)(train_images, grid, sigma, config["batch_size"],
                                                             config["seed"], gap=config["gap"], workers=workers)
    train_data, steps = batches, len(batches)
    if config["strategy"] == "multiworker":  # each worker makes its own part of every batch, reading only its images
        train_data, steps = worker_dataset(batches, strategy)
    with strategy.scope():  # the model and its optimizer live on every replica
        model = build_network(config)
        optimizer = keras.optimizers.Adam(learning_rate_schedule(config, config["epochs"] * steps))
        model.compile(optimizer=optimizer, loss=KERAS_LOSSES[config["loss"]])
    if verbose:
        print(describe(config, model, strategy))
    if denoise:  # Keras' own validation loss, on corruptions fixed by a seed stream of their own
        validation, val_data = None, tasks.denoise_pairs(val_images, grid, [config["seed"], 1_000_003])
    else:
        validation = JigsawValidation(val_images, grid, sigma, config["seed"], config["decode"], 256, config["loss"])
        val_data = None
    # A resumed run's seconds go on from its log's last epoch: train_seconds is the whole run's training.
    logged = resume and (folder / run_folder.LOG).is_file()
    before = (run_folder.read_log(folder).get("seconds") or [0.0])[-1] if logged else 0.0
    stopwatch = Stopwatch(before)
    callbacks = [SetEpoch(batches), *([validation] if validation else []), stopwatch,
                 *logging_callbacks(folder, config, resume)]
    # PuzzleBatches already draws each epoch's order from (seed, epoch). Keras' own shuffle of
    # the batch order draws from Python's global random state, which a resumed run cannot
    # restore: it would train on the same batches in another order, to other weights.
    model.fit(train_data, epochs=config["epochs"], callbacks=callbacks, validation_data=val_data, verbose=verbose,
              shuffle=False, steps_per_epoch=None if train_data is batches else steps)
    seconds = stopwatch.elapsed()
    if denoise:
        metrics = {"val_loss": float(model.evaluate(*val_data, batch_size=256, verbose=0))}
    else:
        if validation.metrics is None:  # resumed after the last epoch: nothing left to fit
            validation.set_model(model)
            validation.score()
        metrics = validation.metrics
    model.save(folder / run_folder.FINAL)
    utils.plot_history(run_folder.read_log(folder), folder / run_folder.LOSS_PLOT, ylabel=f"loss ({config['loss']})")
    summary = {"decode": config["decode"], "train_seconds": round(seconds, 1), "parameters": model.count_params()}
    utils.save_json({**summary, **metrics}, folder / run_folder.VAL_METRICS)
    if verbose:
        print(f"{len(val_images)} validation images (held out of training), final model, "
              f"after {seconds:.0f} s of training:")
        print(f"mean squared error {metrics['val_loss']:.5f}" if denoise else format_table(metrics))
    return metrics


def learning_rate_schedule(config, steps):
    """Adam's learning rate: a constant, or a linear warm-up then a cosine decay to 0 over ``steps``."""
    import keras

    peak = config["learning_rate"]
    if config["lr_schedule"] == "constant":
        return peak
    # A short linear warm-up (attention is unstable at full rate from random weights), then
    # cosine decay to zero: fast early progress, then the small steps that settle the last
    # hard puzzles.
    warmup = min(config["warmup_steps"], steps // 10)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else peak, decay_steps=steps - warmup, warmup_target=peak if warmup else None, warmup_steps=warmup
    )


def logging_callbacks(folder, config, resume):
    """The callbacks that read the validation's logs: best checkpoint, CSV log, backup, TensorBoard."""
    import keras

    callbacks = [
        keras.callbacks.ModelCheckpoint(str(folder / run_folder.BEST), monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(str(folder / run_folder.LOG), append=resume),
        keras.callbacks.BackupAndRestore(str(folder / run_folder.BACKUP)),
    ]
    if config["tensorboard"]:
        try:  # Keras' callback needs it; imported here so that a missing install is named, not a traceback
            import tensorboard  # noqa: F401
        except ImportError:
            raise ImportError("--tensorboard needs the tensorboard package: pip install -r requirements.txt") from None
        callbacks.append(keras.callbacks.TensorBoard(str(folder / run_folder.TENSORBOARD)))
    return callbacks


def describe(config, model, strategy):
    """One line about the run that is starting."""
    height, width = config["puzzle_shape"]
    rows, cols = config["grid"]
    replicas = f", {strategy.num_replicas_in_sync} replicas" if config["strategy"] != "single" else ""
    network = "piece transformer" if config["arch"] == "transformer" else "U-Net"
    if config["pretext"] == "denoise":
        task = f"denoising {height}x{width} px images ({rows}x{cols} pieces)"
    else:
        task = f"{rows}x{cols} puzzles of {height}x{width} px, sigma {config['sigma']:g} px"
        if config["gap"]:
            task += f", {config['gap']} px blanked along every side of every piece"
    return (
        f"{task}, "
        f"{config['train_digits']} training and {config['val_digits']} validation images, "
        f"{network} with {model.count_params():,} parameters, {config['loss']} loss{replicas}"
    )


def main(argv=None):
    args = vars(get_args(argv))
    verbose = 2 if args.pop("quiet") else 1
    run_script("train.py", lambda: train(**args, verbose=verbose))


if __name__ == "__main__":
    main()
