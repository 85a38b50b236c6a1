"""Score a trained jigsaw U-Net on held-out digits and plot its reassemblies.

    python evaluate.py --model runs/mnist-2x2 --data ../shared/data/mnist.npz

The grid, sigma and image size come from the run's config.json, so no training flag is
repeated. Every test digit is shuffled once with --seed, so two models evaluated with the
same seed solve the same puzzles. Prints exact / pieces / permutation / tau for both
decodings and writes them to metrics.json.
"""

import argparse
import os
import pathlib
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import utils

DEFAULT_BATCH_SIZE = 256
PLOT_COUNT = 8


class CleanArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: 'prog: error: message (see --help)'.

    It also prints Python warnings (the offline data fallback, say) as one line each,
    'prog: warning: message', instead of with a line of source code.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def parse_args(self, *args, **kwargs):
        warnings.showwarning = lambda message, *_, **__: print(f"{self.prog}: warning: {message}", file=sys.stderr)
        return super().parse_args(*args, **kwargs)


def run_script(prog, work):
    """Calls ``work()`` for a script: bad input ends in one line and exit status 1, Ctrl-C in 130."""
    try:
        return work()
    except (ValueError, OSError) as err:
        sys.exit(f"{prog}: error: {err}")
    except KeyboardInterrupt:
        sys.exit(130)


def get_args(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="evaluate.py")
    parser.add_argument("--model", required=True, help="a run folder (uses its best.keras and config.json) or a .keras file with config.json beside it")
    parser.add_argument("--data", default=None, help="MNIST source: an .npz in Keras' layout, a folder of IDX files, or 'sample' (default: Keras' download, else the bundled sample)")
    parser.add_argument("--split", default="test", choices=("test", "val"), help="'test': the MNIST test split (default); 'val': the run's own validation digits")
    parser.add_argument("--num", type=int, default=None, help="score only the first NUM digits of the split (default: all)")
    parser.add_argument("--decode", default=None, choices=utils.DECODE_METHODS, help="decoding used for the plot and metrics.json's 'decode' entry (default: the run's); the table shows both")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test shuffles: the same seed gives the same puzzles (default 0)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help=f"puzzles per forward pass (default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--metrics", default=None, help="where to write metrics.json (default: beside the model)")
    parser.add_argument("--plot", default=None, help=f"save a PNG of the first {PLOT_COUNT} puzzles: original, shuffled, heatmaps, reassembled")
    parser.add_argument("--show", action="store_true", help="show that figure in a window")
    return parser.parse_args(argv)


def find_run(model_path):
    """Resolves ``--model`` to ``(model_file, config)``.

    Raises:
        FileNotFoundError: if the model file or its config.json is missing.
    """
    path = pathlib.Path(model_path).expanduser()
    if path.is_dir():
        candidates = [path / "best.keras", path / "final.keras"]
        model_file = next((c for c in candidates if c.is_file()), None)
        if model_file is None:
            raise FileNotFoundError(f"run folder {path} holds no best.keras or final.keras")
    elif path.is_file():
        model_file = path
    else:
        raise FileNotFoundError(f"no model at {path} (give a run folder or a .keras file)")
    if model_file.suffix != ".keras":
        raise ValueError(f"{model_file} is not a .keras model file")
    config_file = model_file.parent / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} is missing: evaluate.py reads the grid and sigma from the run's config")
    config = utils.load_json(config_file)
    missing = [key for key in ("grid", "sigma", "image_shape", "seed", "val_size") if key not in config]
    if missing:
        raise ValueError(f"{config_file} lacks {', '.join(missing)}: is it a train.py run config?")
    return model_file, config


def load_model(model_file):
    """Loads a ``.keras`` file, turning Keras' many failure types into one ValueError."""
    import keras

    try:
        return keras.models.load_model(model_file)
    except Exception as err:
        raise ValueError(f"{model_file} is not a loadable .keras model ({type(err).__name__}: {err})") from None


def format_table(metrics):
    """The metrics as a small text table, one row per decoding."""
    header = f"{'decode':<10}" + "".join(f"{name:>13}" for name in utils.METRIC_NAMES)
    rows = [header]
    for method, values in metrics.items():
        cells = "".join(
            f"{values[name]:>13.4f}" if name == "kendall_tau" else f"{100 * values[name]:>12.2f}%"
            for name in utils.METRIC_NAMES
        )
        rows.append(f"{method:<10}{cells}")
    return "\n".join(rows)


def evaluate(model, data=None, split="test", num=None, decode=None, seed=0, batch_size=DEFAULT_BATCH_SIZE, metrics=None, plot=None, show=False, verbose=1):
    """Scores a trained run on held-out digits; writes metrics.json and an optional plot.

    Args:
        model: a run folder or a ``.keras`` file with ``config.json`` beside it.
        data: MNIST source (see ``utils.load_mnist``).
        split: ``"test"`` (the MNIST test split) or ``"val"`` (the run's validation digits).
        num: score only the first ``num`` digits of the split; None for all.
        decode: decoding named as the headline in metrics.json and used for the plot.
        seed: seed of the puzzles' shuffles.
        batch_size: puzzles per forward pass.
        metrics: path of metrics.json; None for beside the model.
        plot: path of a PNG of the first puzzles; None for none.
        show: show that figure.
        verbose: 0 silent, 1 progress bar and table.

    Returns:
        The dict written to metrics.json.
    """
    if decode is not None and decode not in utils.DECODE_METHODS:
        raise ValueError(f"unknown decode method {decode!r}; choose one of {', '.join(utils.DECODE_METHODS)}")
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    if num is not None and num < 1:
        raise ValueError(f"--num must be a positive number of digits, got {num}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {batch_size}")
    model_file, config = find_run(model)
    grid = utils.parse_grid(config["grid"])
    decode = decode or config.get("decode", "hungarian")
    metrics_path = pathlib.Path(metrics) if metrics else model_file.parent / "metrics.json"

    (x_train, _), (x_test, _) = utils.load_mnist(data)
    if split == "test":
        images = x_test
    else:
        _, val_index = utils.train_val_split(len(x_train), config["val_size"], config["seed"])
        images = x_train[val_index]
    if tuple(images.shape[1:]) != tuple(config["image_shape"]):
        raise ValueError(f"the model was trained on {config['image_shape']} images, these are {list(images.shape[1:])}")
    # Shuffle the whole split before taking --num, so a puzzle never depends on --num.
    shuffled, permutation = utils.shuffle_pieces(images, grid, seed)
    if num is not None:
        images, shuffled, permutation = images[:num], shuffled[:num], permutation[:num]

    # TensorFlow starts here, once the input is checked.
    from model_utils import score_puzzles

    net = load_model(model_file)
    started = time.perf_counter()
    loss, scores, heatmaps = score_puzzles(net, images, shuffled, permutation, grid, config["sigma"], batch_size, progress=verbose > 0, loss=config.get("loss", "mse"))
    seconds = time.perf_counter() - started
    result = {
        "model": str(model_file),
        "grid": list(grid),
        "split": split,
        "num_puzzles": len(images),
        "seed": seed,
        "decode": decode,
        "loss": loss,
        **scores[decode],
        "by_decode": scores,
        "seconds": round(seconds, 2),
    }
    utils.save_json(result, metrics_path)
    rows, cols = grid
    if verbose:
        print(f"{len(images)} {split} puzzles, {rows}x{cols} grid, seed {seed}, loss {loss:.5f}, {seconds:.1f} s")
        print(format_table(scores))
        print(f"metrics written to {metrics_path}")
    if plot or show:
        count = min(PLOT_COUNT, len(heatmaps))
        decoded = utils.decode_heatmaps(heatmaps[:count], grid, decode)
        reassembled = utils.reassemble(shuffled[:count], decoded, grid)
        title = f"{rows}x{cols} {split} puzzles, {decode} decoding"
        if config.get("loss") == "softmax":  # logits: show each heatmap's softmax, peak 1
            heatmaps = utils.softmax_heatmaps(heatmaps[:count])
        utils.plot_puzzles(images[:count], shuffled[:count], grid, heatmaps[:count], reassembled, path=plot, show=show, title=title)
        if verbose and plot:
            print(f"plot written to {plot}")
    return result


def main(argv=None):
    args = get_args(argv)
    run_script("evaluate.py", lambda: evaluate(
        args.model, data=args.data, split=args.split, num=args.num, decode=args.decode, seed=args.seed,
        batch_size=args.batch_size, metrics=args.metrics, plot=args.plot, show=args.show,
    ))


if __name__ == "__main__":
    main()
