"""Does solving jigsaw puzzles teach useful features? Train a jigsaw network's body on a real task.

    python transfer.py --pretrained runs/mnist-2x2 --task classify --labels 100 --mode linear
    python transfer.py --scratch --grid 2 --task centres --labels 1000 --mode finetune
    python transfer.py --pretrained runs/mnist-2x2 --task pose --labels 100 --mode finetune --save runs/cells
    python transfer.py --score \\
        runs/cells/jigsaw-2x2-transformer-piece-filters-16-edge-bias-learned-pose-100-finetune-seed0 \\
        --data other-digits.npz
    python transfer.py --pretrained runs/mnist-2x2 --labels 100 1000 all --mode linear finetune \\
        --seeds 0 1 2 3 4 --json runs/transfer-2x2.json
    python transfer.py --pretrained runs/figures --task keypoints --annotations figures/train/keypoints.json \\
        --test-annotations figures/test/keypoints.json --labels 100 --mode finetune --predictions runs/predictions

The body is the pretext network minus its heatmap layer (``model_utils.HEAD``): a
train.py run's (``--pretrained``, jigsaw or the denoising control), or the same
architecture with random weights (``--scratch``). Four tasks; the first three are scored on
MNIST test digits only:

* ``classify``: the digit's class, from the body's output averaged over the image, with
  ``--labels`` labelled training digits balanced by class; accuracy on all 10,000 test digits.
* ``pose``: digit pose, pose estimation on the pretext's own images: one heatmap per kind
  of keypoint (stroke ends, stroke junctions of the digit's skeleton; ``tasks.pose_keypoints``)
  with a peak at every instance, from ``--labels`` labelled training digits; the output
  layers are the keypoint task's. Scored on all 10,000 test digits by keypoint precision,
  recall and F1, found keypoints (local maxima of the heatmaps' sigmoid >= 0.5) matched
  one-to-one to true ones within 2 px (and within 1 px).
* ``centres``: the pose-estimation form of the paper, on digits. Two digits on a blank canvas; one
  heatmap per class that peaks at each digit's centre, as pose networks predict one heatmap
  per joint, from ``--labels`` labelled canvases of training digits; the output layers (a 3x3
  convolution over the body's feature map, then the pretext's kind of heatmap layer) are
  linear in the body's features. Scored on 5,000 canvases of the 10,000 test digits: a digit
  is found when one of the canvas's two strongest peaks has its class and lies within 3 px
  of its centre.
* ``keypoints``: your keypoints, in COCO's format (``coco``): ``--annotations FILE.json`` with
  its images under ``--data``. Every instance with a labelled keypoint is a top-down crop at the
  body's input size, one heatmap per keypoint name (std ``KEYPOINT_SIGMA`` px), keypoints that
  are not labelled left out of the loss, crops flipped left to right half the time (left/right
  names swapped). ``--labels`` counts instances, drawn by the seed. Scored on
  ``--test-annotations`` (images under ``--test-data``), or, given one file, on the images
  ``data.split_off_test`` holds out of it: OKS AP, AP50 and AP75 by COCO's own evaluator
  (``pycocotools``) and PCK@0.1; ``--predictions DIR`` writes each cell's predictions in
  COCO's results format.

``--mode linear`` trains only the new output layers on the frozen body (the U-Net's: on
every level's features, each conv block's output, pooled or upsampled and stacked);
``finetune`` trains every weight. A tenth of the labelled examples (one per class at least) is held out for
validation: each cell keeps the weights of its best validation loss. Every other setting is
fixed in advance, the same for every initialisation, and none is chosen on test digits.
"""

import json
import math
import os
import pathlib
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import coco
import data
import run_folder
import tasks
import utils
from cli import CleanArgumentParser, run_script

PER_CANVAS = 2  # digits on each keypoint canvas
RADIUS = 3.0  # pixels within which a keypoint counts as found
POSE_RADII = (2.0, 1.0)  # digit pose: a found keypoint matches a true one within these distances, px
POSE_THRESHOLD = 0.5  # digit pose: a heatmap's local maximum is a keypoint from this probability up
KEYPOINT_SIGMA = 2.0  # the keypoint heatmaps' Gaussian std, pixels
FEATURE_BYTES = 2**30  # linear mode computes a frozen U-Net's levels once when they take no more memory than this
TEST_SEED = 0  # the test canvases: the same for every cell, whatever its --seeds
DEFAULTS = dict(
    pretrained=None,
    scratch=False,
    arch=run_folder.DEFAULTS["arch"],
    grid=run_folder.DEFAULTS["grid"],
    piece_filters=run_folder.DEFAULTS["piece_filters"],
    edge_bias=run_folder.DEFAULTS["edge_bias"],
    task="classify",
    labels=("100",),
    mode=("linear",),
    seeds=(0,),
    data=None,
    canvas=70,
    steps=None,  # the task's (tasks.STEPS)
    batch_size=64,
    learning_rate=1e-3,
    linear_learning_rate=1e-2,
    json=None,
    save=None,
    score=None,
    annotations=None,
    test_annotations=None,
    test_data=None,
    oks_sigmas=None,
    image_size=None,
    predictions=None,
)
CELL = "cell.json"  # in a --save folder, beside MODEL: the cell's settings and scores
MODEL = "model.keras"


def get_args(argv=None):
    d = DEFAULTS
    parser = CleanArgumentParser(description=__doc__.split("\n")[0], prog="transfer.py", examples=[
        "python transfer.py --pretrained runs/first --task pose --labels 100 --mode finetune",
        "python transfer.py --scratch --grid 2 --task pose --labels 100 --mode finetune  # random weights",
        "python transfer.py --pretrained runs/first --labels 100 1000 all --mode linear finetune --seeds 0 1 2 3 4",
    ])
    init = parser.add_mutually_exclusive_group(required=True)
    init.add_argument("--pretrained", metavar="RUN",
                      help="a train.py run folder: its body (the network minus its heatmap layer) is the "
                           "starting point")
    init.add_argument("--scratch", action="store_true", help="start from random weights (the network of --arch/--grid)")
    init.add_argument("--score", metavar="CELL",
                      help="train nothing: score a cell saved with --save on the labelled digits of --data (an .npz "
                           "with x_test and y_test), or for keypoints on --test-annotations")
    parser.add_choice("arch", d["arch"], "with --scratch: the network, as train.py --arch (default transformer)")
    parser.add_argument("--grid", default=d["grid"],
                        help="with --scratch: the grid whose pieces the transformer embeds, as train.py --grid "
                             f"(default {d['grid']})")
    parser.add_argument("--piece-filters", type=int, default=d["piece_filters"],
                        help=f"with --scratch: the transformer's, as train.py --piece-filters (default "
                             f"{d['piece_filters']})")
    parser.add_choice("edge_bias", d["edge_bias"],
                      f"with --scratch: the transformer's, as train.py --edge-bias (default {d['edge_bias']})")
    parser.add_argument("--task", default=d["task"], choices=run_folder.choices("task"),
                        help="'classify': the digit's class (default); 'pose': digit pose, one heatmap per kind "
                             "of keypoint (stroke ends, junctions) of the digit's skeleton; 'centres': one heatmap "
                             "per class peaking at each digit's centre on a canvas of two digits; 'keypoints': "
                             "your keypoints in COCO's format (--annotations)")
    parser.add_argument("--labels", nargs="+", default=list(d["labels"]),
                        help="labelled training examples (digits; canvases for centres; instances for keypoints), "
                             "balanced by class "
                             "for classify; 'all' for every training digit; several values run one after another "
                             "(default 100)")
    parser.add_argument("--mode", nargs="+", default=list(d["mode"]), choices=run_folder.choices("mode"),
                        help="'linear': train only the new output layer on the frozen body (default); "
                             "'finetune': train every weight; several run one after another")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(d["seeds"]),
                        help="seeds of the labelled subset, the new weights (all weights with --scratch) and the "
                             "batches; one cell (one trained and scored head) per seed (default 0)")
    parser.add_argument("--data", default=d["data"],
                        help="MNIST source as for train.py (default: Keras' download); keypoints: the folder of the "
                             "--annotations images (default: the file's folder)")
    parser.add_argument("--annotations", metavar="FILE",
                        help="keypoints: the labelled instances, a COCO keypoints JSON (images under --data)")
    parser.add_argument("--test-annotations", metavar="FILE",
                        help="keypoints: the scored instances, a COCO keypoints JSON (default: the images of "
                             "--annotations that data.split_off_test holds out)")
    parser.add_argument("--test-data", metavar="DIR",
                        help="keypoints: the folder of the --test-annotations images (default: --data, or without "
                             "it the file's folder)")
    parser.add_argument("--oks-sigmas", nargs="+", type=float, metavar="S",
                        help=f"keypoints: OKS's per-keypoint sigmas, one per keypoint name (default: COCO's for its "
                             f"17 person keypoints, else {coco.DEFAULT_OKS_SIGMA} each)")
    parser.add_argument("--image-size", metavar="H|HxW",
                        help=f"keypoints with --scratch: the crops' size (default {data.DEFAULT_IMAGE_SIZE}, rounded "
                             f"down to a multiple of --grid); a pretrained body takes its run's image size")
    parser.add_argument("--predictions", metavar="DIR",
                        help="keypoints: write each cell's test predictions, COCO's results format, to DIR/<cell>.json")
    parser.add_argument("--canvas", type=int, default=d["canvas"],
                        help=f"centres: canvas side in px, a multiple of the transformer's piece side (default "
                             f"{d['canvas']}, which 14, 10 and 7 px pieces, the 2x2, 3x3 and 4x4 grids', all tile)")
    parser.add_argument("--steps", type=int, default=d["steps"],
                        help="training steps of each cell (default: the task's, as in the transfer tables: "
                             + ", ".join(f"{steps:,} for {task}" for task, steps in tasks.STEPS.items()) + ")")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"],
                        help=f"examples per step (default {d['batch_size']})")
    parser.add_argument("--learning-rate", type=float, default=d["learning_rate"],
                        help=f"finetune: Adam's initial learning rate, cosine-decayed to 0 (default "
                             f"{d['learning_rate']})")
    parser.add_argument("--linear-learning-rate", type=float, default=d["linear_learning_rate"],
                        help=f"linear: the same for the output layer alone, which takes larger steps (default "
                             f"{d['linear_learning_rate']})")
    parser.add_argument("--json", help="also write the cells' results to this JSON file")
    parser.add_argument("--save", metavar="DIR",
                        help="keep each cell's trained model in DIR/<cell>/ (model.keras and cell.json), for --score")
    parser.add_argument("--quiet", action="store_true", help="print only the results")
    return parser.parse_args(argv)


def transfer(verbose=1, **settings):
    """Trains and scores one cell per (labels, mode, seed); every keyword is a transfer.py flag.

    Example:
        >>> transfer(pretrained="runs/mnist-2x2", task="classify", labels=[100], mode=["linear"], data="sample")

    Returns:
        A list of dicts, one per cell: the settings that vary (``labels``, ``mode``, ``seed``),
        ``init``, ``task``, the scores on the test digits (``accuracy``; ``f1``, ``precision``, ``recall``
        and ``f1_1px`` for pose; ``found`` and ``all_found`` for centres), for pose the same scores on
        the held-out tenth of the labelled digits (``val_f1``, ...), ``steps``, the ``pretrained`` run folder (None
        from scratch), ``seconds`` and the ``cpu`` that spent them.
    """
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    s = {**DEFAULTS, **settings}
    if s["score"] is not None:
        return [score_saved(s["score"], s, verbose)]
    config, model_file, init = body_config(s)
    labels = [parse_labels(value) for value in s["labels"]]
    run_folder.check_choice("task", s["task"])
    if s["task"] == "keypoints" and s["annotations"] is None:
        raise ValueError("--task keypoints needs --annotations FILE.json (keypoints in COCO's format); the digit "
                         "centres on a canvas are --task centres")
    if s["steps"] is None:
        s["steps"] = tasks.STEPS[s["task"]]
    for mode in s["mode"]:
        run_folder.check_choice("mode", mode)
    for key in ("steps", "batch_size", "canvas"):
        if s[key] < 1:
            raise ValueError(f"{run_folder.flag(key)} must be a positive integer, got {s[key]}")
    if any(int(seed) != seed or seed < 0 for seed in s["seeds"]):
        raise ValueError(f"--seeds must be non-negative integers, got {list(s['seeds'])}")
    for key in ("learning_rate", "linear_learning_rate"):
        if not s[key] > 0:
            raise ValueError(f"{run_folder.flag(key)} must be positive, got {s[key]}")
    if config["arch"] == "transformer":
        run_folder.tiles(config, task_shape(config, s))  # the same pieces must tile the task's input
    if s["task"] == "keypoints":
        x_train, scored = keypoint_sets(s)
        y_train, examples, least = None, len(x_train), 2
        sigmas = coco.oks_sigmas(x_train.names, s["oks_sigmas"])
        made_of = f"instances of {s['annotations']}"
    else:
        (x_train, y_train), (x_test, y_test) = utils.load_mnist(s["data"])
        examples = len(x_train) // (PER_CANVAS if s["task"] == "centres" else 1)
        # At least one example to train on and one to validate: one of each class for classify.
        least = 2 if s["task"] == "centres" else tasks.MIN_LABELS
        made_of = f"{unit(s['task'])} the {len(x_train)} training digits make"
    for num in labels:
        if num is not None and num > examples:
            raise ValueError(f"--labels {num} is more than the {examples} labelled {made_of}")
        if num is not None and num < least:
            raise ValueError(f"--labels {num} is too few: {s['task']} needs at least {least} labelled "
                             f"{unit(s['task'])}, to train on and to validate")
    if s["task"] == "keypoints":
        test = keypoint_test(scored, task_shape(config, s), config.get("channels") or 1, sigmas)
    else:
        test = test_set(s["task"], config["grid"], s["canvas"], x_test, y_test)

    # TensorFlow starts here, once the input is checked.
    from model_utils import load_model
    from training import accelerator

    pretrained = load_model(model_file) if model_file else None
    # A cell's seconds mean something only beside the CPU (and the accelerator, if any) that spent them.
    device = accelerator()
    where = {"cpu": utils.cpu_description(), **({"accelerator": device} if device else {})}
    pose_cache = {}  # digit pose: training digit index -> its keypoints, shared by the cells below
    results = []
    for num in labels:
        for mode in s["mode"]:
            for seed in s["seeds"]:
                started = time.perf_counter()
                task = Task(s, config, pretrained, x_train, y_train, test, num, mode, seed, pose_cache)
                scores = task.run()
                predictions = scores.pop("predictions", None)
                cell = {"init": init, "task": s["task"], "labels": num or "all", "mode": mode, "seed": seed,
                        **scores, "steps": s["steps"], "pretrained": s["pretrained"],
                        "seconds": round(time.perf_counter() - started, 1), **where}
                if s["task"] == "keypoints":
                    cell.update(annotations=str(s["annotations"]), names=list(x_train.names),
                                scored_instances=len(scored), skipped=x_train.skipped,
                                filled=scored.filled)
                results.append(cell)
                if s["save"]:
                    save_cell(task.model, {**cell, "grid": config["grid"], "canvas": s["canvas"]}, s["save"])
                if predictions is not None and s["predictions"]:
                    write_predictions(predictions, pathlib.Path(s["predictions"]) / f"{cell_name(cell)}.json")
                if s["json"]:  # cell by cell: a stopped run keeps what it measured
                    utils.save_json(results, s["json"])
                if verbose:
                    print(describe(cell), flush=True)
    return results


def test_set(task, grid, canvas, x_test, y_test):
    """What a task is scored on: the digits padded to the grid with their labels or pose keypoints, or canvases."""
    if task == "centres":
        return tasks.make_canvases(x_test, y_test, len(x_test) // PER_CANVAS, canvas, PER_CANVAS, TEST_SEED)
    if task == "pose":
        return utils.pad_to_grid(x_test, grid), tasks.pose_keypoints(x_test)
    return utils.pad_to_grid(x_test, grid), y_test


def keypoint_sets(s):
    """The keypoints task's labelled and scored instances (``coco.Keypoints``), read and checked.

    The scored ones come from ``--test-annotations``; without it, from the images of
    ``--annotations`` that ``data.split_off_test`` holds out (the same for every seed), so no
    image gives instances to both.
    """
    labelled = coco.load(s["annotations"], s["data"])
    if s["test_annotations"] is not None:
        return labelled, coco.load(s["test_annotations"], s["test_data"] or s["data"] or
                                   pathlib.Path(s["test_annotations"]).parent)
    images = np.unique(labelled.image_ids)
    if len(images) < 2:
        raise ValueError(f"{s['annotations']}: one image with labelled instances cannot be split into training and "
                         f"test images; give --test-annotations")
    _, held_out = data.split_off_test(len(images))
    test = np.isin(labelled.image_ids, images[held_out])
    return labelled.subset(np.flatnonzero(~test)), labelled.subset(np.flatnonzero(test))


def keypoint_test(scored, shape, channels, sigmas):
    """What the keypoints task is scored on: the instances, their crops and crop regions, and OKS's sigmas."""
    images, _, regions = coco.crops(scored, shape, channels)
    return scored, images, regions, sigmas


def write_predictions(predictions, path):
    """Writes predictions in COCO's keypoint results format, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = run_folder.staging_folder(path)
    staging.write_text(json.dumps(predictions))
    staging.replace(path)


def cell_name(cell):
    """A saved cell's folder name: ``jigsaw-2x2-unet-pose-100-finetune-seed0``."""
    return "-".join([*cell["init"].split(), cell["task"], str(cell["labels"]), cell["mode"], f"seed{cell['seed']}"])


def save_cell(model, cell, folder):
    """Writes ``folder/<cell_name>/`` whole or not at all: the trained model and the cell (settings, scores)."""
    target = pathlib.Path(folder).expanduser() / cell_name(cell)
    staging = run_folder.staging_folder(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save(staging / MODEL)
    utils.save_json(cell, staging / CELL)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def score_saved(folder, s, verbose=1):
    """Scores a cell saved with ``--save`` on other labelled examples; returns the cell with the new scores.

    The digit tasks' cells are scored on the labelled digits of ``s["data"]``; a keypoints cell
    on the instances of ``s["test_annotations"]`` (images under ``s["test_data"]``).

    Raises:
        FileNotFoundError: if the folder holds no saved cell, or the data no file.
        ValueError: if the data is not an .npz of labelled digits of the cell's size (or, for
            keypoints, not a COCO keypoints file with the cell's keypoint names).
    """
    folder = pathlib.Path(folder).expanduser()
    if not (folder / CELL).is_file() or not (folder / MODEL).is_file():
        raise FileNotFoundError(f"{folder} holds no cell saved by transfer.py --save ({CELL} and {MODEL})")
    cell = utils.load_json(folder / CELL)
    if cell["task"] == "keypoints":
        if s["test_annotations"] is None:
            raise ValueError("--score of a keypoints cell needs --test-annotations FILE.json (and --test-data DIR "
                             "where its images are)")
        scored = coco.load(s["test_annotations"], s["test_data"] or pathlib.Path(s["test_annotations"]).parent)
        if list(scored.names) != cell["names"]:
            raise ValueError(f"{s['test_annotations']} names the keypoints {list(scored.names)}; the cell was "
                             f"trained on {cell['names']}")
        where, count, unit_name = s["test_annotations"], len(scored), "instances"
    else:
        if s["data"] is None:
            raise ValueError("--score needs --data: an .npz with the labelled digits x_test and y_test")
        x_test, y_test = utils.load_test_digits(s["data"])
        if x_test.shape[1:] != (28, 28):
            raise ValueError(f"the cell was trained on 28x28 digits, {s['data']} holds "
                             f"{x_test.shape[1]}x{x_test.shape[2]}")
        test = test_set(cell["task"], cell["grid"], cell["canvas"], x_test, y_test)
        where, count, unit_name = s["data"], len(x_test), "digits"
    from model_utils import load_model  # TensorFlow starts here, once the input is checked

    model = load_model(folder / MODEL)
    if cell["task"] == "keypoints":
        sigmas = coco.oks_sigmas(scored.names, s["oks_sigmas"])
        test = keypoint_test(scored, model.input_shape[1:3], model.input_shape[-1], sigmas)
    started = time.perf_counter()
    scores = score(model, cell["task"], test)
    predictions = scores.pop("predictions", None)
    result = {**{key: cell[key] for key in ("init", "task", "labels", "mode", "seed")}, **scores,
              "scored_on": str(where), "digits": count, "unit": unit_name,
              "seconds": round(time.perf_counter() - started, 1), "cpu": utils.cpu_description()}
    if predictions is not None and s["predictions"]:
        write_predictions(predictions, pathlib.Path(s["predictions"]) / f"{cell_name(cell)}.json")
    if verbose:
        print(describe(result), flush=True)
    return result


def body_config(s):
    """The body's network settings, its weights file (None from scratch) and a name for the initialisation."""
    if s["pretrained"] is None and not s["scratch"]:
        raise ValueError("give --pretrained RUN (a train.py run folder) or --scratch")
    if s["pretrained"] is not None:
        model_file, config = run_folder.find_model(s["pretrained"])
        return config, model_file, init_name(config["pretext"], config)
    config = {**run_folder.DEFAULTS, **{key: s[key] for key in ("arch", "grid", "piece_filters", "edge_bias")}}
    run_folder.check_settings(config)
    if s["task"] == "keypoints":  # colour crops of --image-size, cut as a jigsaw run on that size would be
        grid = utils.parse_grid(config["grid"])
        shape = data.grid_size(data.parse_image_size(s["image_size"]) or data.DEFAULT_IMAGE_SIZE, grid)
        config.update(grid=list(grid), puzzle_shape=list(shape), num_pieces=grid[0] * grid[1], channels=3)
    else:
        grid = utils.check_grid(config["grid"], (28, 28))
        config.update(grid=list(grid), puzzle_shape=list(utils.padded_shape((28, 28), grid)),
                      num_pieces=grid[0] * grid[1])
    return config, None, init_name("scratch", config)


def init_name(source, config):
    """A cell's ``init``: ``"jigsaw 2x2 unet gap 2"``, ``"scratch 2x2 transformer piece-filters 16 edge-bias learned"``.

    ``source`` is the pretext ("jigsaw", "denoise") or "scratch". A transformer names the body
    flags in which it differs from the plain piece transformer (``--piece-filters 0
    --edge-bias none``), so the networks' cells never share a row; a jigsaw without its
    shortcut names its gap.
    """
    rows, cols = config["grid"]
    name = f"{source} {rows}x{cols} {config['arch']}"
    plain = {**run_folder.DEFAULTS, **run_folder.MISSING_MEANT}  # the plain transformer's settings, and no gap
    keys = ("piece_filters", "edge_bias", "gap") if config["arch"] == "transformer" else ("gap",)
    for key in keys:
        if config.get(key, plain[key]) != plain[key]:
            name += f" {run_folder.flag(key).removeprefix('--')} {config[key]}"
    return name


def parse_labels(value):
    """A --labels value: a positive integer, or 'all' (None)."""
    if str(value) == "all":
        return None
    try:
        num = int(value)
    except ValueError:
        raise ValueError(f"--labels takes positive integers or 'all', got {value!r}") from None
    if num < 1:
        raise ValueError(f"--labels takes positive integers or 'all', got {value!r}")
    return num


def unit(task):
    return {"centres": "canvases", "keypoints": "instances"}.get(task, "digits")


def task_shape(config, s):
    """The task's input size: digits padded to the run's grid, the canvas (centres), the body's own (keypoints).

    A body is fully convolutional (the U-Net) or works on its run's pieces (the transformer),
    so a run trained on images of another size (photographs, say) takes the task's size too:
    for the transformer, when its pieces tile it.
    """
    if s["task"] == "keypoints":  # crops at the body's own input size
        return tuple(config["puzzle_shape"])
    return (s["canvas"], s["canvas"]) if s["task"] == "centres" else utils.padded_shape((28, 28), config["grid"])


class Task:
    """One cell: a body, a new output layer, few labels, a score on test digits."""

    def __init__(self, s, config, pretrained, x_train, y_train, test, num, mode, seed, pose_cache=None):
        self.s, self.config, self.pretrained = s, config, pretrained
        self.mode, self.seed, self.test = mode, seed, test
        self.task = s["task"]
        self.levels = mode == "linear" and config["arch"] == "unet"  # see build()
        channels = config.get("channels") or 1  # a body trained on colour images sees each digit in every channel
        if self.task == "pose":  # labelled digits, balanced by class; their keypoints' heatmaps at the puzzle size
            train, val = tasks.labelled_split(y_train, num, seed)
            chosen = np.concatenate([train, val])
            # Each digit's keypoints are read once per transfer() call, however many cells use it.
            pose_cache = {} if pose_cache is None else pose_cache
            missing = [i for i in chosen if i not in pose_cache]
            pose_cache.update(zip(missing, tasks.pose_keypoints(x_train[missing]), strict=True))
            digits = utils.pad_to_grid(x_train[chosen], config["grid"])
            heatmaps = tasks.pose_heatmaps([pose_cache[i] for i in chosen], digits.shape[1:])
            self.train_data = (utils.to_model_input(digits[: len(train)], channels), heatmaps[: len(train)])
            self.val_data = (utils.to_model_input(digits[len(train) :], channels), heatmaps[len(train) :])
            # The held-out tenth is also scored as the test digits are: what a budget is chosen on.
            self.val_test = (digits[len(train) :], [pose_cache[i] for i in val])
            self.targets = None
        elif self.task == "keypoints":  # labelled instances drawn by the seed; a tenth of them validate
            labelled, shape = x_train, task_shape(config, s)
            total = num or len(labelled)
            chosen = np.random.default_rng(seed).permutation(len(labelled))[:total]
            val, train = np.sort(chosen[: max(total // 10, 1)]), np.sort(chosen[max(total // 10, 1) :])
            crops, points, _ = coco.crops(labelled, shape, channels, train)
            # Every crop and its mirror image: a batch draws from both, so half the crops it sees are flipped.
            mirrored, flipped_points = coco.mirror(crops, points, labelled.names)
            pool = np.concatenate([points, flipped_points])
            self.targets = lambda i: coco.heatmaps(pool[i], shape, KEYPOINT_SIGMA)
            self.train_data = (utils.to_model_input(np.concatenate([crops, mirrored]), channels), np.arange(len(pool)))
            val_crops, val_points, val_regions = coco.crops(labelled, shape, channels, val)
            self.val_data = (utils.to_model_input(val_crops, channels),
                             coco.heatmaps(val_points, shape, KEYPOINT_SIGMA))
            # The held-out tenth is also scored as the test instances are: what a budget is chosen on.
            self.val_test = (labelled.subset(val), val_crops, val_regions, test[3])
        elif self.task == "centres":  # labelled canvases from training digits; a tenth of them validate
            total = num or len(x_train) // PER_CANVAS
            canvases, classes, centres = tasks.make_canvases(x_train, y_train, total, s["canvas"], PER_CANVAS, seed)
            val = max(total // 10, 1)
            canvas = s["canvas"]
            self.targets = lambda i: tasks.keypoint_heatmaps(classes[i], centres[i], canvas, KEYPOINT_SIGMA)
            self.train_data = (utils.to_model_input(canvases[val:], channels), np.arange(val, total))
            self.val_data = (utils.to_model_input(canvases[:val], channels), self.targets(np.arange(val)))
        else:
            train, val = tasks.labelled_split(y_train, num, seed)

            def digits(index):  # only the labelled digits are padded to the run's puzzle size
                return utils.to_model_input(utils.pad_to_grid(x_train[index], config["grid"]), channels)

            self.train_data = (digits(train), y_train[train])
            self.val_data = (digits(val), y_train[val])
            self.targets = None

    def build(self):
        """The body (copied from the pretext run, or random) and a new output layer on its features.

        Returns:
            ``(body, head)``: ``keras.Model`` s from the task's input to the body's features
            (one tensor; for a frozen U-Net, one per level), and from those to the outputs
            (class logits, or one heatmap of logits per class or kind of keypoint).
        """
        import keras

        from model_utils import HEAD, build_network, copy_body, unet_levels

        keras.utils.set_random_seed(self.seed)
        # Heatmaps: one per class (centres) or kind of keypoint (pose); a classifier keeps no output of the network.
        outputs = {"centres": tasks.NUM_CLASSES, "pose": len(tasks.POSE_KINDS),
                   "keypoints": len(self.test[0].names) if self.task == "keypoints" else 0}.get(self.task, 1)
        network = build_network(self.config, task_shape(self.config, self.s), outputs)
        if self.pretrained is not None:
            copy_body(self.pretrained, network)
        layer = network.get_layer(HEAD)
        if self.levels:  # a frozen U-Net's probe sees every level, not just the last block's 16 channels
            body = keras.Model(network.input, unet_levels(network), name="body")
            features = [keras.Input(tensor.shape[1:]) for tensor in body.outputs]
        else:
            body = keras.Model(network.input, layer.input, name="body")
            features = [keras.Input(body.output.shape[1:])]
        if self.task != "classify":
            # Coarser levels are upsampled to the finest (bilinear, so still linear) and stacked.
            size = features[0].shape[1]
            maps = [x if x.shape[1] == size else
                    keras.layers.UpSampling2D(size // x.shape[1], interpolation="bilinear")(x) for x in features]
            stacked = maps[0] if len(maps) == 1 else keras.layers.Concatenate(name="levels")(maps)
            # A 3x3 linear convolution over the feature map, then the pretext's own kind of output
            # layer (one heatmap per class instead of per piece). The transformer's body has no
            # position embedding, so on a canvas each piece's vector knows its content but not
            # which neighbours belong to its digit; the convolution gives the head that layout.
            # With no activation between the two, the head stays linear in the body's features.
            context = keras.layers.Conv2D(layer.input.shape[-1], 3, padding="same", name="context")(stacked)
            # Every pixel starts at a probability of about 1 %: the heatmaps are mostly background,
            # so the first steps are not spent pushing 0.5 down everywhere.
            layer.bias.assign(keras.ops.full(layer.bias.shape, -4.6))
            outputs = layer(context)
            # A U-Net pads its input to a multiple of 2**depth (30 px at 3x3, a 70 px canvas)
            # and crops its heatmaps back after its output layer; the new layer's must be too.
            extra = [size - target for size, target in zip(outputs.shape[1:3], network.input.shape[1:3], strict=True)]
            if any(extra):
                outputs = keras.layers.Cropping2D(((0, extra[0]), (0, extra[1])), name="crop")(outputs)
        else:
            pooled = [keras.layers.GlobalAveragePooling2D()(x) for x in features]
            pooled = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="pool")(pooled)
            outputs = keras.layers.Dense(tasks.NUM_CLASSES, name="classes")(pooled)
        return body, keras.Model(features if self.levels else features[0], outputs, name="head")

    def run(self):
        """Trains the cell and scores it on the test set."""
        import keras

        from training import RandomBatches, SetEpoch

        self.body, head = self.build()
        inputs = keras.Input(self.body.input.shape[1:])
        self.model = keras.Model(inputs, head(self.body(inputs)))
        x_train, y_train = self.train_data
        x_val, y_val = self.val_data
        trained = self.model
        if self.mode == "linear":
            self.body.trainable = False
            values = sum(math.prod(tensor.shape[1:]) for tensor in self.body.outputs) * (len(x_train) + len(x_val))
            if not self.levels or 4 * values <= FEATURE_BYTES:
                # The body is frozen, so its features are computed once; only the output layer trains.
                x_train, x_val = (self.body.predict(x, batch_size=256, verbose=0) for x in (x_train, x_val))
                trained = head
            # Else (every level of every digit): the frozen body runs each step, in inference mode as predict does.
        if self.task == "keypoints":  # the same, leaving out the keypoints that are not labelled
            from model_utils import masked_heatmap_loss

            loss = masked_heatmap_loss
        elif self.task != "classify":  # heatmaps: every pixel of every map is a yes-or-no
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        rate = self.s["linear_learning_rate" if self.mode == "linear" else "learning_rate"]
        schedule = keras.optimizers.schedules.CosineDecay(rate, self.s["steps"])
        trained.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss,
                        jit_compile=jit_compile(keras.backend.backend()))
        batches = RandomBatches(x_train, y_train, self.s["batch_size"], self.s["steps"], self.seed, self.targets)
        best = keras.callbacks.EarlyStopping(patience=batches.epochs, restore_best_weights=True)
        trained.fit(batches, epochs=batches.epochs, validation_data=(x_val, y_val),
                    callbacks=[SetEpoch(batches), best], verbose=0)
        scores = score(self.model, self.task, self.test)
        if self.task in ("pose", "keypoints"):  # held-out training examples, never the test ones, choose budgets
            held_out = score(self.model, self.task, self.val_test)
            scores.update({f"val_{key}": value for key, value in held_out.items()
                           if key not in ("predictions", "pck_per_keypoint")})
        return scores


def jit_compile(backend):
    """Keras' ``jit_compile`` for a cell's training step under ``backend`` (``keras.backend.backend()``).

    TensorFlow: no XLA, as Keras chooses on a CPU; on a GPU too, as compiling the step takes longer
    than the few hundred steps it would speed up. Any other backend: Keras' own choice ("auto"),
    since JAX's runs an uncompiled step op by op, many times slower.
    """
    return False if backend == "tensorflow" else "auto"


def score(model, task, test):
    """A trained cell's scores on its test set (``test_set``)."""
    channels = model.input_shape[-1]
    if task == "keypoints":
        scored, crops, regions, sigmas = test
        logits = model.predict(utils.to_model_input(crops, channels), batch_size=128, verbose=0)
        points, peaks = coco.decode(logits)
        points = coco.to_image(points, regions, crops.shape[1:3])
        confidences = 1 / (1 + np.exp(-peaks))
        predictions = coco.results(scored, points, confidences)
        return {**coco.oks_ap(scored, predictions, sigmas), **coco.pck(scored, points), "predictions": predictions}
    if task == "pose":
        digits, true = test
        logits = model.predict(utils.to_model_input(digits, channels), batch_size=256, verbose=0)
        found = tasks.find_pose_keypoints(1 / (1 + np.exp(-logits)), POSE_THRESHOLD)
        far, near = (tasks.pose_scores(true, found, radius) for radius in POSE_RADII)
        return {"f1": far["f1"], "precision": far["precision"], "recall": far["recall"], "f1_1px": near["f1"]}
    if task == "classify":
        digits, labels = test
        logits = model.predict(utils.to_model_input(digits, channels), batch_size=512, verbose=0)
        return {"accuracy": float((logits.argmax(-1) == labels).mean())}
    canvases, classes, centres = test
    found = []
    for start in range(0, len(canvases), 500):
        heatmaps = model.predict_on_batch(utils.to_model_input(canvases[start : start + 500], channels))
        peak_classes, peak_centres = tasks.find_keypoints(heatmaps, PER_CANVAS)
        found.append(tasks.keypoint_scores(classes[start : start + 500], centres[start : start + 500],
                                           peak_classes, peak_centres, RADIUS))
    found = np.concatenate(found)
    return {"found": float(found.mean()), "all_found": float(found.all(axis=1).mean())}


def describe(cell):
    if "accuracy" in cell:
        scores = f"accuracy {100 * cell['accuracy']:.2f} %"
    elif "ap" in cell:
        scores = (f"OKS AP {100 * cell['ap']:.1f} (AP50 {100 * cell['ap50']:.1f}, AP75 {100 * cell['ap75']:.1f}), "
                  f"PCK@0.1 {100 * cell['pck']:.1f} %")
    elif "f1" in cell:
        scores = (f"F1 {100 * cell['f1']:.2f} % (precision {100 * cell['precision']:.2f} %, recall "
                  f"{100 * cell['recall']:.2f} %; within 1 px F1 {100 * cell['f1_1px']:.2f} %)")
    else:
        scores = f"found {100 * cell['found']:.2f} %, all found {100 * cell['all_found']:.2f} %"
    where = f" on {cell['digits']} {cell.get('unit', 'digits')} of {cell['scored_on']}" if "scored_on" in cell else ""
    return (f"{cell['init']}, {cell['task']}, {cell['labels']} labels, {cell['mode']}, seed {cell['seed']}{where}: "
            f"{scores} ({cell['seconds']:.0f} s)")


def main(argv=None):
    args = vars(get_args(argv))
    verbose = 0 if args.pop("quiet") else 1
    results = run_script("transfer.py", lambda: transfer(**args, verbose=verbose))
    if not verbose:
        for cell in results:
            print(describe(cell))


if __name__ == "__main__":
    main()
