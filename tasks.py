"""transfer.py's tasks: labelled subsets, digit pose, digits on canvases, the control pretext's pairs.

The jigsaw library is ``utils``; this module holds what the downstream tasks and the
control pretext need on top of it, in numpy only (TensorFlow-free, like ``utils``):

* few labels: ``balanced_subset``, ``labelled_split``;
* digit pose, the stroke ends and junctions of a digit's skeleton: ``skeletons``,
  ``pose_keypoints``, ``pose_heatmaps``, ``find_pose_keypoints``, ``pose_scores``;
* digit centres on a canvas: ``make_canvases``, ``keypoint_heatmaps``, ``find_keypoints``,
  ``keypoint_scores``;
* the control pretext, denoising: ``denoise_pairs``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

import utils

TRANSFER_TASKS = ("classify", "centres", "pose", "keypoints")  # see transfer.py
TRANSFER_MODES = ("linear", "finetune")
# Training steps of a cell of each task, fixed in advance and the same for every initialisation:
# the transfer tables' protocol and transfer.py's defaults. Pose: the costliest cell, the U-Net
# fine-tuned on every labelled digit, takes about ten minutes at 3,000 steps on a 2-core CPU with
# AVX-512, and a budget of 10,000 would take 3.4 times as long (docs/transfer.md, the budget).
STEPS = {"classify": 300, "centres": 300, "pose": 3000,
         # Keypoints: the figures study's budget (bench.figures_table.STEPS), the most its ten CPU
         # hours allow; held-out AP still rises past it, so a user's own set may want more --steps.
         "keypoints": 300}
NUM_CLASSES = 10
MIN_LABELS = 2 * NUM_CLASSES  # labelled_split: one of each class to train on, one to validate
DENOISE_DROP, DENOISE_NOISE = 0.25, 0.2  # the control pretext's corruption: pixels blanked, noise std


def denoise_pairs(images, grid, seed) -> tuple[np.ndarray, np.ndarray]:
    """The control pretext's examples (a denoising autoencoder): corrupted images and clean ones.

    A quarter of the pixels are blanked and Gaussian noise of std 0.2 (on the [0, 1]
    scale) is added, then clipped, as in Vincent et al. 2008's denoising autoencoders.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)`` uint8 images.
        grid: the run's grid: both arrays are padded to it, as puzzles are.
        seed: seed (or seed sequence) of the corruption.

    Returns:
        ``(noisy, clean)``: ``(N, H', W', C)`` float32 in [0, 1] each (C = 1 for ``(N, H, W)``).
    """
    clean = utils.to_model_input(utils.pad_to_grid(images, grid))
    rng = np.random.default_rng(seed)
    blanked = rng.random((*clean.shape[:3], 1)) < DENOISE_DROP  # a blanked pixel loses every channel
    noisy = np.where(blanked, 0.0, clean) + rng.normal(0, DENOISE_NOISE, clean.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32), clean


def balanced_subset(labels, num, seed) -> np.ndarray:
    """Indices of ``num`` examples balanced by class: ``num // C`` of each, the rest spread over random classes.

    Args:
        labels: ``(N,)`` int class labels in ``0..C-1`` (``C = NUM_CLASSES``).
        num: how many to draw; None for all of them.
        seed: the draw's seed: the same seed gives the same subset.

    Returns:
        ``(num,)`` int64 indices into ``labels``, sorted.

    Raises:
        ValueError: if ``num`` is not positive, exceeds ``len(labels)`` or a class's share.
    """
    labels = np.asarray(labels)
    if num is None:
        return np.arange(len(labels))
    if not isinstance(num, numbers.Integral) or isinstance(num, bool) or num < 1:
        raise ValueError(f"the number of labels must be a positive integer, got {num!r}")
    if num > len(labels):
        raise ValueError(f"{num} labels asked for, but there are only {len(labels)} digits")
    rng = np.random.default_rng(seed)
    counts = np.full(NUM_CLASSES, num // NUM_CLASSES)
    counts[rng.permutation(NUM_CLASSES)[: num % NUM_CLASSES]] += 1
    chosen = []
    for label, count in enumerate(counts):
        members = np.flatnonzero(labels == label)
        if count > len(members):
            raise ValueError(f"{num} balanced labels need {count} digits of class {label}, there are {len(members)}")
        chosen.append(rng.choice(members, count, replace=False))
    return np.sort(np.concatenate(chosen))


def labelled_split(labels, num, seed) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``num`` balanced labelled examples and carves a balanced validation tenth off them.

    The validation part holds ``max(num // 10, C)`` examples (one per class at least), so
    a run on few labels still picks its best epoch on labels it did not train on.

    Returns:
        ``(train_index, val_index)``: disjoint int64 index arrays into ``labels``.
    """
    chosen = balanced_subset(labels, num, seed)
    if len(chosen) < MIN_LABELS:
        raise ValueError(f"at least {MIN_LABELS} labels are needed (one per class to train, one to validate)")
    val = chosen[balanced_subset(np.asarray(labels)[chosen], max(len(chosen) // 10, NUM_CLASSES), [seed, 1])]
    return np.setdiff1d(chosen, val), val


def make_canvases(images, labels, num, size, per_canvas=2, seed=0):
    """Places digits at random, non-overlapping spots on blank square canvases.

    Every digit is used at most once. A digit's **centre** is the pixel at the centre of its
    box (MNIST centres each digit's mass in its box).

    Args:
        images: ``(M, h, w)`` uint8 digits, ``M >= num * per_canvas``.
        labels: ``(M,)`` their classes.
        num: canvases to make.
        size: canvas side in pixels.
        per_canvas: digits on each canvas.
        seed: seed of which digits go where.

    Returns:
        ``(canvases, classes, centres)``: ``(num, size, size)`` uint8, ``(num, per_canvas)``
        int64 and ``(num, per_canvas, 2)`` float32 ``(row, col)`` in pixels.

    Raises:
        ValueError: if the digits do not fit the canvas side by side, or there are too few.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    h, w = images.shape[1:3]
    side = math.ceil(math.sqrt(per_canvas))
    if size < side * max(h, w):
        raise ValueError(
            f"a {size}x{size} canvas cannot hold {per_canvas} non-overlapping {h}x{w} digits: "
            f"give a canvas of at least {side * max(h, w)} px"
        )
    if num * per_canvas > len(images):
        raise ValueError(f"{num} canvases of {per_canvas} digits need {num * per_canvas} digits, not {len(images)}")
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(images))[: num * per_canvas].reshape(num, per_canvas)
    canvases = np.zeros((num, size, size), np.uint8)
    corners = np.zeros((num, per_canvas, 2), np.int64)
    for n in range(num):
        corners[n] = _free_corners(rng, per_canvas, size, (h, w))
        for d, (top, left) in enumerate(corners[n]):
            canvases[n, top : top + h, left : left + w] = images[chosen[n, d]]
    centres = (corners + (h // 2, w // 2)).astype(np.float32)  # a whole pixel, so a Gaussian there has one peak
    return canvases, labels[chosen].astype(np.int64), centres


def _free_corners(rng, count, size, box) -> np.ndarray:
    """Top-left corners of ``count`` non-overlapping boxes, uniform over all such layouts (rejection sampling)."""
    for _ in range(100_000):  # at 2 digits on 56 px, about 1 draw in 200 fits; the layouts exist (checked above)
        corners = rng.integers(0, [size - box[0] + 1, size - box[1] + 1], size=(count, 2))
        apart = (np.abs(corners[:, None] - corners[None]) >= box).any(axis=-1)
        if apart[~np.eye(count, dtype=bool)].all():
            return corners
    raise ValueError(f"could not place {count} digits apart on a {size}x{size} canvas: give a larger canvas")


def keypoint_heatmaps(classes, centres, size, sigma=2.0) -> np.ndarray:
    """One heatmap per class, a Gaussian (peak 1) at the centre of each digit of that class.

    Args:
        classes: ``(N, D)`` int classes of the digits on each canvas.
        centres: ``(N, D, 2)`` their ``(row, col)`` centres.
        size: canvas side.
        sigma: Gaussian std in pixels.

    Returns:
        ``(N, size, size, C)`` float32, ``C = NUM_CLASSES``.
    """
    pixels = np.arange(size, dtype=np.float32)
    heatmaps = np.zeros((len(classes), NUM_CLASSES, size, size), np.float32)
    for n, d in np.ndindex(np.shape(classes)):
        row = np.exp(-((pixels - centres[n, d, 0]) ** 2) / (2 * sigma**2))
        col = np.exp(-((pixels - centres[n, d, 1]) ** 2) / (2 * sigma**2))
        np.maximum(heatmaps[n, classes[n, d]], np.outer(row, col), out=heatmaps[n, classes[n, d]])
    return heatmaps.transpose(0, 2, 3, 1).copy()


def find_keypoints(heatmaps, count) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` strongest peaks of each canvas's heatmaps, over all classes.

    A peak is a pixel no lower than its 3x3 neighbours in its class's heatmap. Taking a
    fixed number per canvas (the number of digits on it) means a network gains nothing by
    firing everywhere.

    Args:
        heatmaps: ``(N, H, W, C)`` scores (logits or probabilities).
        count: peaks to keep per canvas.

    Returns:
        ``(classes, centres)``: ``(N, count)`` int64 and ``(N, count, 2)`` float32
        ``(row, col)``, strongest first.
    """
    from scipy.ndimage import maximum_filter

    heatmaps = np.asarray(heatmaps, np.float32)
    n, h, w, c = heatmaps.shape
    peaks = np.where(heatmaps == maximum_filter(heatmaps, size=(1, 3, 3, 1), mode="nearest"), heatmaps, -np.inf)
    flat = peaks.reshape(n, -1)
    top = np.argpartition(-flat, count - 1, axis=1)[:, :count]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(flat, top, axis=1), axis=1, kind="stable"), axis=1)
    rows, cols, classes = np.unravel_index(top, (h, w, c))
    return classes.astype(np.int64), np.stack([rows, cols], axis=-1).astype(np.float32)


def keypoint_scores(true_classes, true_centres, classes, centres, radius=3.0) -> np.ndarray:
    """Which digits were found: a detection of the right class within ``radius`` pixels of the centre.

    Detections are matched strongest first, each to the nearest digit not yet found, so one
    detection finds at most one digit.

    Returns:
        ``(N, D)`` bool: digit ``d`` of canvas ``n`` was found.
    """
    found = np.zeros(np.shape(true_classes), bool)
    for n in range(len(found)):
        for cls, centre in zip(classes[n], centres[n], strict=True):
            distance = np.linalg.norm(true_centres[n] - centre, axis=1)
            candidates = np.flatnonzero((true_classes[n] == cls) & ~found[n] & (distance <= radius))
            if len(candidates):
                found[n, candidates[np.argmin(distance[candidates])]] = True
    return found


# ----------------------------------------------------------------------- digit pose
POSE_KINDS = ("end", "junction")  # one heatmap per kind of keypoint, in this order
POSE_THRESHOLD = 128  # a pixel is ink from this value up (uint8)
POSE_SPUR = 4  # branches from a junction to an end shorter than this (in pixels) are pruned: thinning artefacts
POSE_SIGMA = 1.0  # the pose heatmaps' Gaussian std, pixels


def skeletons(images) -> np.ndarray:
    """The one-pixel-wide skeletons of digits, with spurs pruned: what digit pose's keypoints are read from.

    A pixel is ink from ``POSE_THRESHOLD`` up; scikit-image's ``skeletonize`` (Zhang and
    Suen's thinning) reduces the ink to lines one pixel wide, and every branch that runs
    from a junction to an end in fewer than ``POSE_SPUR`` pixels is removed (thinning
    leaves such spurs where a stroke is thick or ragged; they are not stroke ends).

    Args:
        images: ``(N, H, W)`` uint8 digits.

    Returns:
        ``(N, H, W)`` bool skeletons.
    """
    from skimage.morphology import skeletonize

    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"digits must be (N, H, W) uint8, got {images.shape} {images.dtype}")
    if len(images) == 0:
        return np.zeros(images.shape, bool)
    return np.stack([_prune(skeletonize(image >= POSE_THRESHOLD)) for image in images])


# The 8 neighbours in order around a pixel: N, NE, E, SE, S, SW, W, NW.
_AROUND = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]


def _crossings(skeleton) -> np.ndarray:
    """The crossing number of every skeleton pixel (0 elsewhere): how many separate strokes leave it.

    Counting the skeleton pixels around a pixel would call every staircase step of an
    8-connected line a junction; counting the background-to-skeleton changes once around it
    does not: 1 at a stroke end, 2 along a stroke, 3 or more at a junction.
    """
    padded = np.pad(skeleton, 1).astype(np.int8)
    height, width = skeleton.shape
    ring = [padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in _AROUND]
    changes = sum((ring[(i + 1) % 8] - ring[i]) == 1 for i in range(8))
    return changes * skeleton


def _prune(skeleton) -> np.ndarray:
    """Removes every branch shorter than POSE_SPUR pixels that runs from a stroke end to a junction (one pass)."""
    skeleton = skeleton.copy()
    crossings = _crossings(skeleton)
    height, width = skeleton.shape

    def neighbours(p):
        return [(p[0] + dy, p[1] + dx) for dy, dx in _AROUND
                if 0 <= p[0] + dy < height and 0 <= p[1] + dx < width and skeleton[p[0] + dy, p[1] + dx]]

    for end in zip(*np.nonzero(crossings == 1), strict=True):
        path = [end]
        while len(path) < POSE_SPUR:
            steps = [p for p in neighbours(path[-1]) if p not in path]
            if any(crossings[p] >= 3 for p in steps):  # the branch meets a junction: it is a spur
                for p in path:
                    skeleton[p] = False
                break
            # Go on along the stroke: the one pixel that is not next to the path walked so far.
            steps = [p for p in steps if all(max(abs(p[0] - q[0]), abs(p[1] - q[1])) > 1 for q in path[:-1])]
            if len(steps) != 1:
                break
            path.append(steps[0])
    return skeleton


def pose_keypoints(images) -> list:
    """Digit pose's keypoints: the stroke ends and stroke junctions of each digit's skeleton.

    On the pruned skeleton (``skeletons``), a pixel's crossing number counts the strokes
    that leave it: an end has 1; a junction 3 or more, and adjacent junction pixels are one
    junction, at their mean position. A closed loop with no branch (a ring-shaped 0) has
    neither.

    Args:
        images: ``(N, H, W)`` uint8 digits.

    Returns:
        A list of N dicts ``{kind: (M, 2) float64 (row, col) positions}``, one entry per
        kind in ``POSE_KINDS``.
    """
    from scipy import ndimage

    result = []
    for skeleton in skeletons(images):
        crossings = _crossings(skeleton)
        ends = np.argwhere(crossings == 1).astype(np.float64)
        labels, found = ndimage.label(crossings >= 3, structure=np.ones((3, 3)))
        junctions = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, range(1, found + 1)),
                             dtype=np.float64).reshape(-1, 2)
        result.append({"end": ends, "junction": junctions})
    return result


def pose_heatmaps(keypoints, shape, sigma=POSE_SIGMA) -> np.ndarray:
    """One heatmap per kind of keypoint, peak 1 at each instance (the maximum where two overlap).

    Args:
        keypoints: N dicts as ``pose_keypoints`` returns.
        shape: ``(H, W)`` of the maps (a digit padded to a grid keeps its keypoints' positions).
        sigma: the Gaussians' std in pixels.

    Returns:
        ``(N, H, W, len(POSE_KINDS))`` float32.
    """
    height, width = shape
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    maps = np.zeros((len(keypoints), height, width, len(POSE_KINDS)), np.float32)
    for n, points in enumerate(keypoints):
        for k, kind in enumerate(POSE_KINDS):
            for y, x in points[kind]:
                blob = np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * sigma**2))
                np.maximum(maps[n, :, :, k], blob, out=maps[n, :, :, k])
    return maps


def find_pose_keypoints(probabilities, threshold=0.5) -> list:
    """Keypoints read off predicted pose heatmaps: each local maximum (3x3) at or above ``threshold``.

    Args:
        probabilities: ``(N, H, W, len(POSE_KINDS))`` heatmaps in [0, 1] (a sigmoid of the logits).
        threshold: fixed in advance, never chosen on test digits.

    Returns:
        N dicts as ``pose_keypoints`` returns.
    """
    from scipy import ndimage

    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 4 or probabilities.shape[-1] != len(POSE_KINDS):
        raise ValueError(f"pose heatmaps must be (N, H, W, {len(POSE_KINDS)}), one map per kind of keypoint "
                         f"{POSE_KINDS}, got {probabilities.shape}")
    peaks = (ndimage.maximum_filter(probabilities, size=(1, 3, 3, 1)) == probabilities) & (probabilities >= threshold)
    return [{kind: np.argwhere(peaks[n, :, :, k]).astype(np.float64) for k, kind in enumerate(POSE_KINDS)}
            for n in range(len(probabilities))]


def pose_scores(true, found, radius=2.0) -> dict:
    """Keypoint precision, recall and F1, matching true and found keypoints one-to-one within ``radius`` px.

    Each digit and kind is matched on its own by the Hungarian method on distances (pairs
    farther apart than ``radius`` cannot match), so a found keypoint counts for at most
    one true keypoint.

    Args:
        true, found: N dicts each, as ``pose_keypoints`` and ``find_pose_keypoints`` return.
        radius: the largest distance, in pixels, at which a found keypoint matches.

    Returns:
        ``{"precision", "recall", "f1", "true", "found", "matched"}`` over every digit and
        kind, and the same for each kind under ``by_kind``.
    """
    from scipy.optimize import linear_sum_assignment

    if len(true) != len(found):
        raise ValueError(f"{len(true)} digits of true keypoints but {len(found)} of found ones")
    totals = {kind: np.zeros(3, np.int64) for kind in POSE_KINDS}  # true, found, matched
    for t, f in zip(true, found, strict=True):
        for kind in POSE_KINDS:
            a, b = np.asarray(t[kind]).reshape(-1, 2), np.asarray(f[kind]).reshape(-1, 2)
            matched = 0
            if len(a) and len(b):
                distance = np.linalg.norm(a[:, None] - b[None], axis=-1)
                rows, cols = linear_sum_assignment(np.where(distance <= radius, distance, 1e6))
                matched = int((distance[rows, cols] <= radius).sum())
            totals[kind] += (len(a), len(b), matched)

    def rates(counts):
        num_true, num_found, matched = (int(c) for c in counts)
        precision = matched / num_found if num_found else 0.0
        recall = matched / num_true if num_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "true": num_true, "found": num_found,
                "matched": matched}

    return {**rates(sum(totals.values())), "by_kind": {kind: rates(c) for kind, c in totals.items()}}
