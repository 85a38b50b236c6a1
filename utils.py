"""Heatmap-style jigsaw puzzles on images: the library behind train.py and evaluate.py.

The vocabulary, used the same way everywhere in this project:

* ``grid``: ``(rows, cols)`` (or one int for a square grid). An image is cut into
  ``K = rows * cols`` **pieces**, numbered row-major: piece ``k`` comes from **position**
  ``k`` of the original image.
* Shuffling puts the pieces into **slots** (also numbered row-major). The
  **permutation** says which piece each slot holds: ``permutation[s] = k`` means slot ``s``
  holds piece ``k``.
* The label is one **heatmap** per original position: channel ``k`` is a 2-D Gaussian
  centred on the slot where piece ``k`` now lies, shape ``(N, H, W, K)`` float32.
* **Decoding** reads heatmaps back into a permutation; **reassembly** moves the piece in
  slot ``s`` back to position ``permutation[s]``.

Image sides that the grid does not divide are zero-padded at the bottom and on the right
to the next multiple of the grid (28 px at 3x3 becomes 30 px: ten-pixel pieces). Every
function applies that one rule, so shuffled images, heatmaps and reassembled images all
have the padded size; ``padded_shape`` says what it is.

Only numpy (and matplotlib, inside the plotting functions) is imported here, so a
notebook imports this module without waiting for TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import pathlib
import tempfile

import numpy as np

LOSSES = ("softmax", "mse")  # training losses: see model_utils.heatmap_cross_entropy
DECODE_METHODS = ("hungarian", "argmax")
METRIC_NAMES = ("exact", "pieces", "permutation", "kendall_tau")


# --------------------------------------------------------------------------- grids
def parse_grid(grid) -> tuple[int, int]:
    """Normalises a grid to ``(rows, cols)``.

    Args:
        grid: an int ``n`` (an n x n grid), a pair ``(rows, cols)``, or a string
            ``"n"`` / ``"RxC"`` as typed on a command line.

    Returns:
        ``(rows, cols)``, two positive Python ints.

    Raises:
        ValueError: if the grid is not one or two positive integers.
    """
    value = grid
    if isinstance(grid, str):
        parts = grid.lower().replace("*", "x").split("x")
        try:
            value = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"grid must be an int like 3 or 'RxC' like '3x4', got {grid!r}") from None
        if len(value) == 1:
            value = value * 2
    elif _is_int(grid):
        value = (grid, grid)
    if (
        not isinstance(value, (tuple, list, np.ndarray))
        or len(value) != 2
        or not all(_is_int(v) for v in value)
    ):
        raise ValueError(f"grid must be an int or (rows, cols) of ints, got {grid!r}")
    rows, cols = int(value[0]), int(value[1])
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must be positive, got {grid!r}")
    return rows, cols


def check_choice(what, value, allowed) -> None:
    """Raises ValueError unless ``value`` is one of ``allowed``; the one wording of such errors.

    Args:
        what: what the value is, for the message (``"decode method"``).
        value: the value given.
        allowed: the allowed values.
    """
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_grid(grid, image_shape) -> tuple[int, int]:
    """Parses ``grid`` and checks that it fits images of ``image_shape = (H, W)``.

    Raises:
        ValueError: if the grid is malformed or has more rows (cols) than the image has
            pixel rows (columns).
    """
    rows, cols = parse_grid(grid)
    height, width = int(image_shape[0]), int(image_shape[1])
    if rows > height or cols > width:
        raise ValueError(
            f"grid {rows}x{cols} is larger than the {height}x{width} image: "
            "every piece needs at least one pixel"
        )
    return rows, cols


def padded_shape(image_shape, grid) -> tuple[int, int]:
    """The ``(H, W)`` of a puzzle: the image sides rounded up to multiples of the grid."""
    rows, cols = check_grid(grid, image_shape)
    return (math.ceil(image_shape[0] / rows) * rows, math.ceil(image_shape[1] / cols) * cols)


def piece_shape(image_shape, grid) -> tuple[int, int]:
    """The ``(height, width)`` in pixels of one piece, after padding."""
    rows, cols = parse_grid(grid)
    height, width = padded_shape(image_shape, grid)
    return height // rows, width // cols


def default_sigma(image_shape, grid) -> float:
    """The default heatmap std in pixels: a quarter of the shorter piece side.

    Two standard deviations then reach from a slot's centre to its nearest edge, so each
    Gaussian sits inside its slot whatever the grid (3.5 px at 2x2 on 28x28 digits, 1 px
    at 7x7).
    """
    return min(piece_shape(image_shape, grid)) / 4.0


# ------------------------------------------------------------------ pieces, shuffling
def _check_images(images, what="images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{what} must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    return images


def pad_to_grid(images, grid) -> np.ndarray:
    """Zero-pads images at the bottom and right so the grid divides their sides.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)``, any dtype.
        grid: int or ``(rows, cols)``.

    Returns:
        ``(N, H', W'[, C])``, the same dtype; the input itself when nothing is padded.
    """
    images = _check_images(images)
    height, width = padded_shape(images.shape[1:3], grid)
    extra = [(0, 0), (0, height - images.shape[1]), (0, width - images.shape[2])]
    if extra[1][1] == 0 and extra[2][1] == 0:
        return images
    return np.pad(images, extra + [(0, 0)] * (images.ndim - 3))


def check_gap(gap, image_shape, grid) -> None:
    """Raises ValueError unless ``gap`` px blanked on each side leave every piece of ``image_shape`` some pixels."""
    height, width = piece_shape(image_shape, grid)
    if not (isinstance(gap, numbers.Integral) and 0 <= 2 * gap < min(height, width)):
        raise ValueError(f"--gap must be a whole number of pixels with 2 x gap less than the {height}x{width} px "
                         f"pieces, got {gap}")


def blank_margins(images, grid, gap) -> np.ndarray:
    """Blanks ``gap`` pixels along every side of every piece: the jigsaw without its shortcut.

    Neighbouring pieces' visible parts then lie ``2 * gap`` pixels apart in the image, so a
    puzzle cannot be solved by matching the pixels on either side of a border (Noroozi and
    Favaro 2016 leave such gaps between their tiles for the same reason).

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)``, any dtype.
        grid: int or ``(rows, cols)``.
        gap: pixels blanked on each side of a piece; ``2 * gap`` must be less than its sides.

    Returns:
        ``(N, H', W'[, C])`` padded to the grid (``pad_to_grid``), the same dtype.

    Raises:
        ValueError: if the margins would blank whole pieces.
    """
    images = pad_to_grid(images, grid)
    check_gap(gap, images.shape[1:3], grid)
    if gap == 0:
        return images
    rows, cols = parse_grid(grid)
    height, width = piece_shape(images.shape[1:3], grid)
    inside = np.zeros((height, width), bool)
    inside[gap : height - gap, gap : width - gap] = True
    mask = np.tile(inside, (rows, cols)).reshape((1, rows * height, cols * width) + (1,) * (images.ndim - 3))
    return np.where(mask, images, np.zeros((), images.dtype))


def split_pieces(images, grid) -> np.ndarray:
    """Cuts images into pieces, row-major (padding first, see the module docstring).

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)``, any dtype.
        grid: int or ``(rows, cols)``.

    Returns:
        pieces: ``(N, K, h, w[, C])``, the same dtype, ``K = rows * cols``, where
        ``(h, w) = piece_shape((H, W), grid)``.
    """
    images = pad_to_grid(images, grid)
    rows, cols = parse_grid(grid)
    n, height, width = images.shape[:3]
    tail = images.shape[3:]
    h, w = height // rows, width // cols
    pieces = images.reshape(n, rows, h, cols, w, *tail).swapaxes(2, 3)
    return pieces.reshape(n, rows * cols, h, w, *tail)


def join_pieces(pieces, grid) -> np.ndarray:
    """Puts pieces back on the grid: the inverse of ``split_pieces``.

    Args:
        pieces: ``(N, K, h, w)`` or ``(N, K, h, w, C)``, piece ``k`` going to position ``k``.
        grid: int or ``(rows, cols)`` with ``rows * cols == K``.

    Returns:
        images: ``(N, rows * h, cols * w[, C])``, the same dtype.
    """
    pieces = np.asarray(pieces)
    rows, cols = parse_grid(grid)
    if pieces.ndim not in (4, 5) or pieces.shape[1] != rows * cols:
        raise ValueError(
            f"pieces must have shape (N, {rows * cols}, h, w[, C]) for a {rows}x{cols} grid, "
            f"got {pieces.shape}"
        )
    n, _, h, w = pieces.shape[:4]
    tail = pieces.shape[4:]
    images = pieces.reshape(n, rows, cols, h, w, *tail).swapaxes(2, 3)
    return images.reshape(n, rows * h, cols * w, *tail)


def shuffle_pieces(images, grid, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffles every image's pieces with its own random permutation.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)``, any dtype.
        grid: int or ``(rows, cols)``.
        rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy).

    Returns:
        shuffled: ``(N, H', W'[, C])`` (padded size), the same dtype as ``images``.
        permutation: ``(N, K)`` int64; ``permutation[n, s] = k`` means slot ``s`` of image
        ``n`` holds piece ``k``.
    """
    check_grid(grid, _check_images(images).shape[1:3])
    permutation = draw_permutations(len(images), grid, rng)
    return apply_permutation(images, permutation, grid), permutation


def draw_permutations(num, grid, rng=None) -> np.ndarray:
    """The permutations ``shuffle_pieces`` draws for ``num`` images, without the images: ``(num, K)`` int64.

    So puzzles can be made batch by batch (``apply_permutation``) exactly as the whole set would be.
    """
    rows, cols = parse_grid(grid)
    rng = np.random.default_rng(rng)
    return rng.permuted(np.tile(np.arange(rows * cols, dtype=np.int64), (num, 1)), axis=1)


def apply_permutation(images, permutation, grid) -> np.ndarray:
    """Shuffles images with given permutations: slot ``s`` receives piece ``permutation[s]``.

    The inverse of ``reassemble``.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)``, any dtype.
        permutation: ``(N, K)`` ints, rows permutations of ``0..K-1``.
        grid: int or ``(rows, cols)``.

    Returns:
        ``(N, H', W'[, C])`` (padded size), the dtype of ``images``.
    """
    pieces = split_pieces(images, grid)
    permutation = check_permutation(permutation, pieces.shape[1], num_images=len(pieces))
    return join_pieces(pieces[np.arange(len(pieces))[:, None], permutation], grid)


def check_permutation(permutation, num_pieces, allow_missing=False, num_images=None) -> np.ndarray:
    """Checks a ``(N, K)`` batch of permutations and returns it as an int64 array.

    Args:
        permutation: ``(N, K)`` ints; each row a permutation of ``0..K-1``.
        num_pieces: ``K``.
        allow_missing: if True, ``-1`` marks a slot whose piece is left out (as argmax
            decoding can produce), and the other values of a row must still be distinct.
        num_images: if given, the ``N`` the batch must have (one row per image).

    Raises:
        ValueError: on a wrong shape, out-of-range values or a piece used twice.
    """
    permutation = np.asarray(permutation)
    if permutation.ndim != 2 or permutation.shape[1] != num_pieces:
        raise ValueError(f"permutation must have shape (N, {num_pieces}), got {permutation.shape}")
    if num_images is not None and permutation.shape[0] != num_images:
        raise ValueError(f"{num_images} images but {permutation.shape[0]} permutations were given")
    if permutation.size and not np.issubdtype(permutation.dtype, np.integer):
        raise ValueError(f"permutation must hold integers, got {permutation.dtype}")
    permutation = permutation.astype(np.int64, copy=False)
    low = -1 if allow_missing else 0
    if permutation.size and (permutation.min() < low or permutation.max() >= num_pieces):
        raise ValueError(f"permutation values must lie in [{low}, {num_pieces - 1}]")
    ordered = np.sort(permutation, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if repeated.any():
        row = int(np.flatnonzero(repeated.any(axis=1))[0])
        raise ValueError(f"permutation row {row} uses a piece twice: {permutation[row].tolist()}")
    return permutation


def reassemble(shuffled, permutation, grid) -> np.ndarray:
    """Moves each slot's piece back to the position the permutation names.

    Args:
        shuffled: ``(N, H, W)`` or ``(N, H, W, C)`` shuffled images.
        permutation: ``(N, K)`` ints, ``permutation[n, s] = k``: the piece in slot ``s``
            goes to position ``k``. A ``-1`` (from argmax decoding) leaves that slot's piece
            out; a position no slot names stays blank (zeros).
        grid: int or ``(rows, cols)``.

    Returns:
        ``(N, H', W'[, C])`` (padded size) reassembled images, the dtype of ``shuffled``.
    """
    pieces = split_pieces(shuffled, grid)
    permutation = check_permutation(permutation, pieces.shape[1], allow_missing=True, num_images=len(pieces))
    image_index, slot = np.nonzero(permutation >= 0)
    placed = np.zeros_like(pieces)
    placed[image_index, permutation[image_index, slot]] = pieces[image_index, slot]
    return join_pieces(placed, grid)


# ---------------------------------------------------------------------------- heatmaps
def make_heatmaps(permutation, grid, image_shape, sigma=None) -> np.ndarray:
    """Builds the heatmap label of a batch of shuffled images.

    Channel ``k`` is a Gaussian, peak 1, std ``sigma`` pixels, centred on the slot that
    holds piece ``k``. Gaussians are separable, so each map is the outer product of a
    row profile and a column profile taken from two small tables: no per-image loop.

    Args:
        permutation: ``(N, K)`` ints, rows permutations of ``0..K-1``.
        grid: int or ``(rows, cols)`` with ``rows * cols == K``.
        image_shape: ``(H, W)`` of the images (padded to the grid if it does not divide).
        sigma: std in pixels; None for ``default_sigma(image_shape, grid)``.

    Returns:
        heatmaps: ``(N, H', W', K)`` float32 in ``[0, 1]`` (padded size).
    """
    rows, cols = check_grid(grid, image_shape)
    height, width = padded_shape(image_shape, grid)
    permutation = check_permutation(permutation, rows * cols)
    sigma = default_sigma(image_shape, grid) if sigma is None else float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma must be a positive number of pixels, got {sigma}")
    slot_of_piece = np.argsort(permutation, axis=1)  # the inverse permutation
    row_profiles = _gaussian_profiles(height, rows, sigma)  # (rows, H)
    col_profiles = _gaussian_profiles(width, cols, sigma)  # (cols, W)
    along_h = row_profiles[slot_of_piece // cols]  # (N, K, H)
    along_w = col_profiles[slot_of_piece % cols]  # (N, K, W)
    return np.einsum("nkh,nkw->nhwk", along_h, along_w, optimize=True)


def _gaussian_profiles(length, parts, sigma) -> np.ndarray:
    """``(parts, length)`` float32: a 1-D Gaussian centred on each part of a side."""
    size = length // parts
    centres = (np.arange(parts) + 0.5) * size - 0.5
    offsets = np.arange(length)[None, :] - centres[:, None]
    return np.exp(-0.5 * (offsets / sigma) ** 2).astype(np.float32)


def slot_scores(heatmaps, grid) -> np.ndarray:
    """How strongly each heatmap fires over each slot: its mean over the slot.

    Args:
        heatmaps: ``(N, H, W, K)``, the grid dividing ``H`` and ``W``.
        grid: int or ``(rows, cols)`` with ``rows * cols == K``.

    Returns:
        scores: ``(N, K, S)`` float32, ``scores[n, k, s]`` for piece ``k`` and slot ``s``
        (``S == K``).
    """
    heatmaps = np.asarray(heatmaps)
    rows, cols = parse_grid(grid)
    if heatmaps.ndim != 4 or heatmaps.shape[3] != rows * cols:
        raise ValueError(
            f"heatmaps must have shape (N, H, W, {rows * cols}) for a {rows}x{cols} grid, "
            f"got {heatmaps.shape}"
        )
    n, height, width, k = heatmaps.shape
    if height % rows or width % cols:
        raise ValueError(
            f"heatmaps of {height}x{width} pixels do not split into a {rows}x{cols} grid; "
            "they should have the padded size (utils.padded_shape)"
        )
    blocks = heatmaps.reshape(n, rows, height // rows, cols, width // cols, k)
    scores = blocks.mean(axis=(2, 4), dtype=np.float32)  # (N, rows, cols, K)
    return scores.reshape(n, rows * cols, k).transpose(0, 2, 1)


def decode_heatmaps(heatmaps, grid, method="hungarian") -> np.ndarray:
    """Reads a permutation back from heatmaps.

    Args:
        heatmaps: ``(N, H, W, K)`` network output (or true heatmaps).
        grid: int or ``(rows, cols)``.
        method: ``"hungarian"`` solves the assignment of pieces to slots that maximises the
            total score (``scipy.optimize.linear_sum_assignment``), so every row is a
            permutation. ``"argmax"`` lets each channel take its best slot on its own, as
            the original MNIST port did; where several channels take one slot, the slot
            goes to the one that fires strongest there, the others' positions stay blank,
            and a slot no channel took is marked ``-1`` (its piece is left out).

    Returns:
        permutation: ``(N, K)`` int64, ``permutation[n, s] = k``.
    """
    check_choice("decode method", method, DECODE_METHODS)
    scores = slot_scores(heatmaps, grid)  # (N, K, S)
    k = scores.shape[1]
    best_slot = scores.argmax(axis=2)  # (N, K)
    taken = best_slot[:, :, None] == np.arange(k)  # (N, K, S): channel k took slot s
    claimed = taken.any(axis=1)  # (N, S)
    winner = np.where(taken, scores, -np.inf).argmax(axis=1)  # (N, S)
    permutation = np.where(claimed, winner, -1).astype(np.int64)
    if method == "argmax":
        return permutation
    # Where every channel's best slot is distinct, that choice already maximises the total
    # score; only puzzles with a clash need the assignment solver (few, once trained).
    clashes = np.flatnonzero(~claimed.all(axis=1))
    if clashes.size:
        from scipy.optimize import linear_sum_assignment

        for i in clashes:
            pieces, slots = linear_sum_assignment(scores[i], maximize=True)
            permutation[i, slots] = pieces
    return permutation


# ----------------------------------------------------------------------------- metrics
def jigsaw_scores(originals, shuffled, permutation_true, permutation_pred, grid) -> dict:
    """Per-puzzle scores of a decoding; ``jigsaw_metrics`` averages them.

    Args:
        originals: ``(N, H, W[, C])`` the unshuffled images (unpadded or padded).
        shuffled: ``(N, H', W'[, C])`` the puzzles.
        permutation_true: ``(N, K)`` the shuffle's permutation.
        permutation_pred: ``(N, K)`` a decoded permutation (``-1`` allowed).
        grid: int or ``(rows, cols)``.

    Returns:
        A dict of ``(N,)`` float64 arrays:
        ``exact``: 1 where the reassembly is pixel-identical to the original (so two
        interchangeable blank pieces swapped still count as right);
        ``pieces``: the fraction of positions that hold the right pixels;
        ``permutation``: 1 where the decoded permutation is the true one;
        ``kendall_tau``: Kendall's tau-a between true and decoded permutations, in
        ``[-1, 1]`` (1 for a 1x1 grid).
    """
    rows, cols = parse_grid(grid)
    originals = pad_to_grid(originals, grid)
    permutation_true = check_permutation(permutation_true, rows * cols)
    reassembled = reassemble(shuffled, permutation_pred, grid)
    if reassembled.shape != originals.shape:
        raise ValueError(
            f"originals {originals.shape} and puzzles {reassembled.shape} differ in shape"
        )
    right = split_pieces(reassembled, grid) == split_pieces(originals, grid)
    piece_right = right.reshape(*right.shape[:2], -1).all(axis=2)  # (N, K)
    permutation_pred = np.asarray(permutation_pred)
    return {
        "exact": piece_right.all(axis=1).astype(np.float64),
        "pieces": piece_right.mean(axis=1),
        "permutation": (permutation_pred == permutation_true).all(axis=1).astype(np.float64),
        "kendall_tau": kendall_tau(permutation_true, permutation_pred),
    }


def jigsaw_metrics(originals, shuffled, permutation_true, permutation_pred, grid) -> dict:
    """The mean of each ``jigsaw_scores`` entry over the batch, as Python floats.

    Returns:
        ``{"exact", "pieces", "permutation", "kendall_tau"}``; the first three are fractions
        in ``[0, 1]``, tau lies in ``[-1, 1]``.
    """
    scores = jigsaw_scores(originals, shuffled, permutation_true, permutation_pred, grid)
    return {name: float(values.mean()) for name, values in scores.items()}


def kendall_tau(permutation_true, permutation_pred) -> np.ndarray:
    """Kendall's tau-a between rows of two ``(N, K)`` arrays, as ``(N,)`` float64.

    Ties (a piece placed twice, or two ``-1``) count as neither agreeing nor disagreeing.
    """
    a = np.asarray(permutation_true)
    b = np.asarray(permutation_pred)
    k = a.shape[1]
    if k < 2:
        return np.ones(a.shape[0])
    i, j = np.triu_indices(k, 1)
    agreement = np.sign(a[:, i] - a[:, j]) * np.sign(b[:, i] - b[:, j])
    return agreement.mean(axis=1, dtype=np.float64)


# -------------------------------------------------------------------------------- data
def train_val_split(num_digits, val_size, seed) -> tuple[np.ndarray, np.ndarray]:
    """Splits training-digit indices into training and validation, fixed by ``seed``.

    Returns:
        ``(train_index, val_index)``: int64 arrays, disjoint, together ``0..num_digits-1``.
    """
    if not 0 <= val_size < num_digits:
        raise ValueError(f"val_size must lie in [0, {num_digits - 1}] for {num_digits} training digits, got {val_size}")
    order = np.random.default_rng(seed).permutation(num_digits)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def to_model_input(shuffled, channels=None) -> np.ndarray:
    """uint8 puzzles ``(N, H, W)`` or ``(N, H, W, C)`` -> network input ``(N, H, W, C)`` float32 in [0, 1].

    Args:
        shuffled: the images; ``(N, H, W)`` is one channel.
        channels: the network's input channels; None for the images' own. Grayscale images fed
            to a 3-channel network are repeated into every channel (as a colour photograph of
            them would be).
    """
    shuffled = np.asarray(shuffled)
    if shuffled.ndim == 3:
        shuffled = shuffled[..., None]
    if channels is not None and channels != shuffled.shape[-1]:
        if shuffled.shape[-1] != 1:
            raise ValueError(f"a {channels}-channel network cannot take {shuffled.shape[-1]}-channel images")
        shuffled = np.repeat(shuffled, channels, axis=-1)
    return shuffled.astype(np.float32) / 255.0


def cpu_description() -> str:
    """The CPU this runs on, as a figure's record should name it: model name, cores, AVX-512 or not.

    Returns:
        E.g. ``"AMD EPYC, 2 cores, avx512f"`` or ``"Intel(R) Xeon(R) ..., 2 cores, no avx512f"``; on a
        system without ``/proc/cpuinfo``, what ``platform.processor()`` says.
    """
    import platform

    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    avx512 = "avx512f" if "avx512f" in fields.get("flags", "").split() else "no avx512f"
    return f"{fields.get('model name', platform.machine())}, {os.cpu_count()} cores, {avx512}"


# ------------------------------------------------------------------------------ output
@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``, moved onto ``path`` only if the block succeeds.

    So a file lands whole or not at all: a crash or Ctrl-C mid-write leaves no partial file.
    It lands with the permissions a plain write would give it: an existing file's, else the
    umask's (``mkstemp`` makes the temporary file readable by its owner only).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        if path.exists():
            mode = path.stat().st_mode
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_json(path) -> dict:
    """Reads a JSON file, naming the file in the error if it is not valid JSON."""
    try:
        return json.loads(pathlib.Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None


def save_json(data, path) -> None:
    """Writes ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


# ------------------------------------------------------------------------------- plots
def softmax_heatmaps(logits) -> np.ndarray:
    """Heatmap logits (a ``softmax``-loss model's output) as heatmaps with peak 1.

    Each heatmap becomes its softmax over the pixels, divided by its maximum, so it can be
    plotted like a Gaussian target.

    Args:
        logits: ``(N, H, W, K)`` floats.

    Returns:
        ``(N, H, W, K)`` float32 in (0, 1], each channel's maximum exactly 1.
    """
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 4:
        raise ValueError(f"heatmap logits must be (N, H, W, K), got shape {logits.shape}")
    return np.exp(logits - logits.max(axis=(1, 2), keepdims=True))


def heatmap_colours(heatmaps) -> np.ndarray:
    """Overlays all K heatmaps in one RGB picture, one hue per original position.

    Args:
        heatmaps: ``(N, H, W, K)`` floats (values outside [0, 1] are clipped).

    Returns:
        ``(N, H, W, 3)`` float32 RGB in [0, 1]: each pixel takes the hues of the channels
        firing there, weighted by their strength, and is as bright as the strongest.
    """
    import matplotlib

    heatmaps = np.clip(np.asarray(heatmaps, dtype=np.float32), 0.0, 1.0)
    k = heatmaps.shape[-1]
    hues = matplotlib.colormaps["hsv"](np.arange(k) / max(k, 1))[:, :3].astype(np.float32)
    weight = heatmaps.sum(axis=-1, keepdims=True)
    colour = (heatmaps @ hues) / np.maximum(weight, 1e-6)
    return colour * heatmaps.max(axis=-1, keepdims=True)


def plot_puzzles(originals, shuffled, grid, heatmaps=None, reassembled=None, path=None, show=False, title=None):
    """Draws one puzzle per row: original, shuffled, heatmaps, reassembled.

    The grid is drawn over every panel; pieces of the reassembly that differ from the
    original are outlined in red.

    Args:
        originals: ``(N, H, W)`` grayscale or ``(N, H, W, 3)`` RGB images (N rows in the figure).
        shuffled: ``(N, H', W'[, 3])`` puzzles.
        grid: int or ``(rows, cols)``.
        heatmaps: optional ``(N, H', W', K)``, drawn overlaid (``heatmap_colours``).
        reassembled: optional ``(N, H', W'[, 3])``.
        path: where to save a PNG (atomically); None to skip.
        show: call ``plt.show()`` (in a notebook the figure shows anyway).
        title: optional figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    originals = pad_to_grid(originals, grid)
    rows, cols = parse_grid(grid)
    panels = [("original", originals), ("shuffled", np.asarray(shuffled))]
    if heatmaps is not None:
        panels.append(("heatmaps", heatmap_colours(heatmaps)))
    if reassembled is not None:
        panels.append(("reassembled", np.asarray(reassembled)))
    n = len(originals)
    fig, axes = plt.subplots(n, len(panels), figsize=(1.6 * len(panels), 1.6 * n + 0.4), squeeze=False)
    height, width = originals.shape[1:3]
    wrong = None
    if reassembled is not None:
        same = split_pieces(np.asarray(reassembled), grid) == split_pieces(originals, grid)
        wrong = ~same.reshape(n, rows * cols, -1).all(axis=2)
    for i in range(n):
        for j, (name, images) in enumerate(panels):
            ax = axes[i, j]
            image = images[i][..., 0] if images[i].ndim == 3 and images[i].shape[2] == 1 else images[i]
            ax.imshow(image, cmap="gray", vmin=0, vmax=255 if images.dtype == np.uint8 else 1)
            for r in range(1, rows):
                ax.axhline(r * height / rows - 0.5, color="tab:blue", lw=0.6)
            for c in range(1, cols):
                ax.axvline(c * width / cols - 0.5, color="tab:blue", lw=0.6)
            if name == "reassembled":
                for k in np.flatnonzero(wrong[i]):
                    ph, pw = height / rows, width / cols
                    ax.add_patch(
                        plt.Rectangle(
                            ((k % cols) * pw - 0.5, (k // cols) * ph - 0.5), pw, ph, fill=False, ec="red", lw=1.2
                        )
                    )
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    if show:
        plt.show()
    return fig


def plot_history(history, path, ylabel="loss"):
    """Plots training curves (``loss``, ``val_loss``, and ``val_exact`` if present) to a PNG.

    Args:
        history: a dict of equal-length lists, one per logged quantity (e.g. read from
            the run's ``log.csv``).
        path: the PNG to write (atomically).
        ylabel: the loss axis' label, e.g. ``"loss (softmax)"``.

    Returns:
        The matplotlib Figure (closed), one line per curve drawn.
    """
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(epochs, history[key], marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    lines = ax.get_lines()
    if "val_exact" in history:
        twin = ax.twinx()
        lines += twin.plot(epochs, history["val_exact"], color="tab:green", marker="s", label="val_exact")
        twin.set_ylabel("validation exact reassembly")
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return fig


# Reading data is data.py's job; these names stay here for the notebooks and scripts that import them from utils.
from data import PHOTOS_PATH, SAMPLE_PATH, digits_fingerprint, load_mnist, load_test_digits  # noqa: E402, F401
