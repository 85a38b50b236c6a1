"""Score a trained jigsaw network on held-out images and plot its reassemblies.

    python evaluate.py --model runs/mnist-2x2                              # the run's own --data
    python evaluate.py --model runs/mnist-2x2 --data path/to/mnist.npz     # a local copy
    python evaluate.py --model runs/photos --data other_photos/ --split all  # every image of another folder
    python evaluate.py --decode border --data photos/ --grid 3 --image-size 48 --split all   # no network at all

The grid, sigma, image size and channels come from the run's config.json, so no training flag
is repeated. Every test image is shuffled once with --seed, so two models evaluated with the
same seed solve the same puzzles. Prints exact / pieces / permutation / tau for both
decodings and writes them to metrics.json. ``--decode border`` also scores the border solver
(``borders``), a baseline that learns nothing: it needs no ``--model``, only ``--data`` and
``--grid`` (and ``--image-size`` for images of many sizes).
"""

import os
import pathlib
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import borders
import data
import run_folder
import utils
from cli import CleanArgumentParser, format_table, run_script

DEFAULT_BATCH_SIZE = 256
PLOT_COUNT = 8


def get_args(argv=None):
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="evaluate.py", examples=[
        "python evaluate.py --model runs/first                       # the test table, both decodings",
        "python evaluate.py --model runs/first --plot puzzles.png --failures wrong.png",
        "python evaluate.py --model runs/first --split val            # the run's own validation images",
        "python evaluate.py --model runs/photos --data other_photos/ --split all   # every image of another folder",
        "python evaluate.py --decode border --data other_photos/ --grid 3 --image-size 48 --split all  # no network",
    ])
    add = parser.add_argument
    add("--model", default=None,
        help="a run folder (uses its best.keras and config.json) or a .keras file with config.json beside it; "
             "optional with --decode border")
    add("--data", default=None,
        help=f"the images: {data.SOURCE_HELP}, or 'photos' (default: the run's own --data; Keras' MNIST download, "
             "else the bundled sample, for a run trained on it); brought to the run's size and channels")
    parser.add_choice("split", "test",
                      "'test': the source's test split (default); 'val': the run's own validation images; 'all': every "
                      "image of --data, training and test splits (to score a model on another set of images)")
    add("--num", type=int, default=None, help="score only the first NUM images of the split (default: all)")
    add("--decode", default=None, choices=run_folder.choices("evaluate_decode"),
        help="decoding used for the plot and metrics.json's 'decode' entry (default: the run's); the table shows "
             "both of the network's; 'border' adds the border solver's row, which needs no network; 'layout' adds "
             "layout decoding's: a beam search over whole layouts scored by the heatmaps and the borders together")
    add("--grid", default=None, help="with --decode border and no --model: the grid, as train.py --grid")
    add("--image-size", default=None,
        help="with --decode border and no --model: bring every image to this size, H or HxW (default: the "
             "images' own, which must then be one size)")
    add("--beam", type=int, default=borders.DEFAULT_BEAM,
        help=f"with --decode border or layout: partial layouts the beam search keeps (default {borders.DEFAULT_BEAM})")
    add("--weight", type=float, default=borders.DEFAULT_WEIGHT,
        help="with --decode layout: the border costs' weight beside the heatmaps' log-probabilities, in units of "
             f"each puzzle's median pair cost (default {borders.DEFAULT_WEIGHT:g})")
    add(
        "--seed",
        type=int,
        default=0,
        help="seed of the test shuffles: the same seed gives the same puzzles (default 0)",
    )
    add(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"puzzles per forward pass (default {DEFAULT_BATCH_SIZE})",
    )
    add("--metrics", default=None, help=f"where to write {run_folder.METRICS} (default: beside the model)")
    add(
        "--plot",
        default=None,
        help=f"save a PNG of the first {PLOT_COUNT} puzzles: original, shuffled, heatmaps, reassembled",
    )
    add("--failures", default=None,
        help=f"save a PNG of the first {PLOT_COUNT} puzzles whose reassembly is not exact, drawn as --plot draws")
    add("--show", action="store_true", help="show the figures in a window")
    return parser.parse_args(argv)


def evaluate(
    model=None,
    data=None,
    split="test",
    num=None,
    decode=None,
    seed=0,
    batch_size=DEFAULT_BATCH_SIZE,
    metrics=None,
    plot=None,
    show=False,
    verbose=1,
    failures=None,
    grid=None,
    image_size=None,
    beam=borders.DEFAULT_BEAM,
    weight=borders.DEFAULT_WEIGHT,
):
    """Scores a trained run (or the border solver) on held-out images; writes metrics.json and an optional plot.

    Args:
        model: a run folder or a ``.keras`` file with ``config.json`` beside it; None with
            ``decode="border"`` scores the border solver alone.
        data: the images (see ``data.open_images``); None for the run's own ``--data``.
        split: ``"test"`` (the source's test split), ``"val"`` (the run's validation images) or
            ``"all"`` (every image of ``data``).
        num: score only the first ``num`` images of the split; None for all.
        decode: decoding named as the headline in metrics.json and used for the plot: one of
            ``utils.DECODE_METHODS``, or ``"border"`` (``borders.solve``, scored beside them).
        seed: seed of the puzzles' shuffles.
        batch_size: puzzles per forward pass.
        metrics: path of metrics.json; None for beside the model.
        plot: path of a PNG of the first puzzles; None for none.
        show: show the figures.
        verbose: 0 silent, 1 progress bar and table.
        failures: path of a PNG of the first puzzles not solved exactly; None for none.
        grid: without a model, the grid (int, ``"3"``, ``"2x3"``).
        image_size: without a model, the size every image is brought to; None for their own.
        beam: the beam of the border solver and of layout decoding.
        weight: layout decoding's weight of the border costs (``borders.solve``).

    Returns:
        The dict written to metrics.json (without a model: to ``metrics`` only, if given).
    """
    if decode is not None:
        run_folder.check_choice("evaluate_decode", decode)
    run_folder.check_choice("split", split)
    borders.check_beam(beam)
    if not weight >= 0:
        raise ValueError(f"--weight must be a weight >= 0 of the border costs, got {weight}")
    if num is not None and num < 1:
        raise ValueError(f"--num must be a positive number of images, got {num}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {batch_size}")
    if model is None:
        model_file, config = None, border_config(decode, data, split, grid, image_size)
    else:
        if grid is not None or image_size is not None:
            raise ValueError("--grid and --image-size are the run's own with --model; give them only without it")
        model_file, config = run_folder.find_model(model)
        if config["pretext"] != "jigsaw":
            raise ValueError(f"{model} was trained on the {config['pretext']} pretext: evaluate.py scores jigsaw "
                             "runs (transfer.py --pretrained uses it)")
    decode = decode or config["decode"]
    images, shuffled, permutation, origin = make_puzzles(config, data, split, num, seed)

    started = time.perf_counter()
    loss, scores, heatmaps, net = None, {}, None, None
    if model_file is not None:
        # TensorFlow starts here, once the input is checked.
        from model_utils import load_model
        from training import score_puzzles

        net = load_model(model_file)
        loss, scores, heatmaps = score_puzzles(net, images, shuffled, permutation, config["grid"], config["sigma"],
                                               batch_size, progress=verbose > 0, loss=config["loss"])
    seconds = time.perf_counter() - started
    border = None
    if decode == borders.LAYOUT:
        if model_file is None or config["loss"] != "softmax":
            raise ValueError("--decode layout reads the heatmap logits of a softmax-loss run: give --model of one")
        frame = is_digits(config, data)
        layout_started = time.perf_counter()
        scores[borders.LAYOUT], border_decoded, border_exact, hungarian_seconds = layout_scores(
            net, images, shuffled, permutation, config["grid"], beam, weight, frame, batch_size)
        layout_seconds = time.perf_counter() - layout_started
        border = {"beam": beam, "frame": frame, "weight": weight,
                  "ms_per_puzzle": round(1000 * layout_seconds / len(images), 3),
                  "hungarian_ms_per_puzzle": round(1000 * hungarian_seconds / len(images), 3)}
    if decode == borders.DECODE:
        frame = is_digits(config, data)
        border_started = time.perf_counter()
        scores[borders.DECODE], border_decoded, border_exact = border_scores(images, shuffled, permutation,
                                                                             config["grid"], beam, frame, batch_size)
        border_seconds = time.perf_counter() - border_started
        border = {"beam": beam, "frame": frame, "ms_per_puzzle": round(1000 * border_seconds / len(images), 3)}
    result = {
        "model": None if model_file is None else str(model_file),
        "grid": list(config["grid"]),
        "split": split,
        "data": origin,
        "digits_fingerprint": images.images.fingerprint() if isinstance(images, Puzzles)
        else utils.digits_fingerprint(images),
        "num_puzzles": len(images),
        "seed": seed,
        "decode": decode,
        "loss": loss,
        **scores[decode],
        "by_decode": scores,
        "seconds": round(seconds, 2),
        **({decode: border} if border else {}),
    }
    metrics_path = pathlib.Path(metrics) if metrics else None if model_file is None else (
        model_file.parent / run_folder.METRICS)
    if metrics_path is not None:
        utils.save_json(result, metrics_path)
    if verbose:
        rows, cols = config["grid"]
        scored = "" if loss is None else f", loss {loss:.5f}, {seconds:.1f} s"
        print(f"{len(images)} {split} puzzles, {rows}x{cols} grid, seed {seed}{scored}")
        print(format_table(scores))
        if border and decode == borders.LAYOUT:
            print(f"layout decoding: beam {beam}, weight {weight:g}, {border['ms_per_puzzle']:.1f} ms per puzzle "
                  f"(the network's forward pass included; hungarian decoding of the same heatmaps: "
                  f"{border['hungarian_ms_per_puzzle']:.2f} ms){', the outside counted as black' if frame else ''}")
        elif border:
            print(f"border solver: beam {beam}, {border['ms_per_puzzle']:.1f} ms per puzzle"
                  f"{', the outside counted as black' if border['frame'] else ''}")
        if metrics_path is not None:
            print(f"metrics written to {metrics_path}")
    if plot or show:
        count = min(PLOT_COUNT, len(images))
        index = np.arange(count)
        decoded = border_decoded[index] if border else None
        plot_solutions(config, images[index], shuffled[index], None if heatmaps is None else heatmaps[:count],
                       f"{split} puzzles", decode, plot, show, decoded)
        if verbose and plot:
            print(f"plot written to {plot}")
    if failures:
        wrong = round((1 - scores[decode]["exact"]) * len(images))
        if border:
            index = np.flatnonzero(~border_exact.astype(bool))[:PLOT_COUNT]
            wrong_heatmaps, decoded = None, border_decoded[index]
        else:
            index, wrong_heatmaps = find_failures(net, images, shuffled, permutation, config["grid"], decode,
                                                  PLOT_COUNT, batch_size)
            decoded = None
        if len(index):
            what = f"{split} puzzles not solved exactly (the first {len(index)} of {wrong})"
            plot_solutions(config, images[index], shuffled[index], wrong_heatmaps, what, decode, failures, show,
                           decoded)
            if verbose:
                print(f"{what} drawn in {failures}")
        elif verbose:
            print(f"every {split} puzzle is solved exactly: no {failures} drawn")
    return result


def border_config(decode, source, split, grid, image_size):
    """What make_puzzles needs of a run, for the border solver alone: the grid and the images' size.

    Raises:
        ValueError: if the border solver is not asked for, or the data, the grid or the split cannot
            be without a run.
    """
    if decode != borders.DECODE:
        raise ValueError("--model is needed, unless --decode border scores the border solver alone")
    if source is None:
        raise ValueError("--decode border without --model needs --data: the images to cut into puzzles")
    if grid is None:
        raise ValueError("--decode border without --model needs --grid: how to cut the images")
    if split == "val":
        raise ValueError("--split val is a run's own validation images: give --model, or --split test or all")
    size = data.parse_image_size(image_size) if image_size is not None else None
    return {"grid": utils.parse_grid(grid), "image_size": size, "channels": None, "gap": 0, "data_origin": None,
            "decode": borders.DECODE, "loss": None, "image_shape": None, "puzzle_shape": None}


def is_digits(config, source):
    """Whether the puzzles are MNIST digits, whose outside is black (the border solver's frame)."""
    if source is None:
        source = config.get("data_origin")
    return source in (None, "download") or _is_mnist(source)


def border_scores(images, shuffled, permutation, grid, beam, frame, batch_size):
    """The border solver's scores on the puzzles, batch by batch (a folder is never read whole).

    Returns:
        ``({metric: mean}, (N, K) permutations, (N,) exact)``: the last for ``--failures``.
    """
    return solver_scores(images, shuffled, permutation, grid, batch_size,
                         lambda puzzles: borders.solve(puzzles, grid, beam=beam, frame=frame))


def layout_scores(net, images, shuffled, permutation, grid, beam, weight, frame, batch_size):
    """Layout decoding's scores: the network's heatmaps and the border costs, whole layouts at a time.

    Returns:
        ``({metric: mean}, (N, K) permutations, (N,) exact, seconds of hungarian decoding of the same
        heatmaps)``: the last to compare the two decodings' cost in one command.
    """
    hungarian = [0.0]

    def solve(puzzles):
        logits = np.asarray(net.predict_on_batch(utils.to_model_input(puzzles)))
        started = time.perf_counter()
        utils.decode_heatmaps(logits, grid, "hungarian")
        hungarian[0] += time.perf_counter() - started
        return borders.solve(puzzles, grid, beam=beam, frame=frame, slot_costs=-borders.slot_log_probs(logits, grid),
                             weight=weight)

    return (*solver_scores(images, shuffled, permutation, grid, batch_size, solve), hungarian[0])


def solver_scores(images, shuffled, permutation, grid, batch_size, solve):
    """Scores ``solve`` (``(n, H, W[, C])`` puzzles -> ``(n, K)`` permutations) batch by batch.

    Returns:
        ``({metric: mean}, (N, K) permutations, (N,) exact)``.
    """
    totals = dict.fromkeys(utils.METRIC_NAMES, 0.0)
    decoded, exact = [], []
    for start in range(0, len(shuffled), batch_size):
        stop = min(start + batch_size, len(shuffled))
        puzzles = shuffled[start:stop]
        found = solve(puzzles)
        scores = utils.jigsaw_scores(images[start:stop], puzzles, permutation[start:stop], found, grid)
        for name, values in scores.items():
            totals[name] += float(values.sum())
        decoded.append(found)
        exact.append(scores["exact"])
    means = {name: total / len(shuffled) for name, total in totals.items()}
    return means, np.concatenate(decoded), np.concatenate(exact)


def find_failures(net, images, shuffled, permutation, grid, decode, count, batch_size):
    """The first ``count`` puzzles whose reassembly is not exact, and the network's heatmaps of them.

    Runs the network batch by batch and stops once it has ``count`` of them.

    Returns:
        ``(index, heatmaps)``: ``(M,)`` int indices into the puzzles, M <= count, and their
        ``(M, H, W, K)`` float32 heatmaps.
    """
    found, maps = [], []
    for start in range(0, len(shuffled), batch_size):
        stop = min(start + batch_size, len(shuffled))
        heatmaps = np.asarray(net.predict_on_batch(utils.to_model_input(shuffled[start:stop])))
        decoded = utils.decode_heatmaps(heatmaps, grid, decode)
        exact = utils.jigsaw_scores(images[start:stop], shuffled[start:stop], permutation[start:stop], decoded,
                                    grid)["exact"]
        wrong = np.flatnonzero(~exact.astype(bool))[: count - len(found)]
        found.extend(start + wrong)
        maps.append(heatmaps[wrong])
        if len(found) == count:
            break
    return np.asarray(found, dtype=int), np.concatenate(maps)


def make_puzzles(config, source, split, num, seed):
    """The images of a split, each shuffled once with ``seed``, as the run's grid cuts them.

    Args:
        config: the run's settings.
        source: the ``--data`` given (None for the run's own), opened at the run's size and channels.
        split: ``"test"``, ``"val"`` or ``"all"``.
        num: keep the first ``num``; None for all.
        seed: seed of the shuffles.

    Returns:
        ``(images, shuffled, permutation, origin)``: ``(N, H0, W0[, 3])`` uint8 images, ``(N, H, W[, 3])``
        uint8 puzzles, ``(N, K)`` their permutations, and where the images came from. For a folder,
        images and puzzles are ``Puzzles``, made batch by batch as they are indexed.

    Raises:
        ValueError: for ``split="val"``, if these are not the training images the run split; for
            images of another size than the run's.
    """
    if source is None and config.get("data_origin") not in (None, "download"):
        source = config["data_origin"]
    # Another source than the run's own is brought to the size the run's puzzles have.
    size = config["image_size"] or (None if source is None or _is_mnist(source) else config["puzzle_shape"])
    opened = data.open_images(source, size, config["grid"], config["channels"],
                              keep_size=split == "val" and bool(config.get("crop")))
    if split == "val":
        run_folder.record_digits(dict(config), opened.fingerprint, opened.origin, "--split val")
        _, images = run_folder.split_training_images(config, opened)
    elif split == "test":
        images = opened.test
    elif opened.streamed:
        images = opened.train.joined(opened.test)
    else:
        images = np.concatenate([opened.train, opened.test])
    if config["image_shape"] is not None and tuple(images.shape[1:3]) != tuple(config["image_shape"]):
        raise ValueError(f"the model was trained on {config['image_shape']} images, "
                         f"these are {list(images.shape[1:3])}")
    # Shuffle the whole split before taking --num, so a puzzle never depends on --num.
    permutation = utils.draw_permutations(len(images), config["grid"], seed)[:num]
    if isinstance(images, data.ImageFiles):  # a folder: its images are decoded batch by batch, never all at once
        images = images.subset(np.arange(len(permutation)))
        return (Puzzles(images, None, config["grid"], config["gap"]),
                Puzzles(images, permutation, config["grid"], config["gap"]), permutation, opened.origin)
    images = images[: len(permutation)]
    if config["gap"]:  # the run's puzzles had blank margins: so do the ones it is scored on
        images = utils.blank_margins(images, config["grid"], config["gap"])
    return images, utils.apply_permutation(images, permutation, config["grid"]), permutation, opened.origin


class Puzzles:
    """A folder's images, or their puzzles, made batch by batch: they index (and slice) like the arrays would.

    Args:
        images: ``data.ImageFiles``.
        permutation: ``(N, K)`` each puzzle's permutation; None for the images themselves.
        grid: the run's grid.
        gap: the run's blank margins (``utils.blank_margins``), px.
    """

    def __init__(self, images, permutation, grid, gap):
        self.images, self.permutation, self.grid, self.gap = images, permutation, grid, gap
        self.shape, self.dtype = images.shape, images.dtype

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        images = self.images[index]
        if self.gap:
            images = utils.blank_margins(images, self.grid, self.gap)
        if self.permutation is None:
            return images
        return utils.apply_permutation(images, self.permutation[index], self.grid)


def _is_mnist(source) -> bool:
    """Whether ``--data`` names MNIST (kept at its own size) rather than images brought to the run's size."""
    path = pathlib.Path(source).expanduser()
    if source == "sample" or (path.is_dir() and data.is_idx_folder(path)):
        return True
    return path.suffix == ".npz" and path.is_file() and data._is_mnist_npz(path)


def plot_solutions(config, images, shuffled, heatmaps, what, decode, path=None, show=False, decoded=None):
    """Draws puzzles with the network's heatmaps (if any) and the reassemblies (``utils.plot_puzzles``).

    ``decoded``: the permutations drawn (the border solver's); None to decode ``heatmaps`` with ``decode``.
    """
    grid = utils.parse_grid(config["grid"])
    if decoded is None:
        decoded = utils.decode_heatmaps(heatmaps, grid, decode)
    reassembled = utils.reassemble(shuffled, decoded, grid)
    if heatmaps is not None and config["loss"] == "softmax":  # logits: show each heatmap's softmax, peak 1
        heatmaps = utils.softmax_heatmaps(heatmaps)
    title = f"{grid[0]}x{grid[1]} {what}, {decode} decoding"
    utils.plot_puzzles(images, shuffled, grid, heatmaps, reassembled, path=path, show=show, title=title)


def main(argv=None):
    args = vars(get_args(argv))
    run_script("evaluate.py", lambda: evaluate(**args))


if __name__ == "__main__":
    main()
