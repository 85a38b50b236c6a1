"""Where the images come from: MNIST, arrays of images, or a folder of image files, loaded or streamed.

This module is the one owner of reading data. ``open_images(data, ...)`` takes what a user
passes as ``--data`` and returns an ``ImageSource``: its training and test images, where they
came from, and a fingerprint that tells this set of training images from any other.

* **MNIST** (Keras' download, ``"sample"``, an ``.npz`` in Keras' layout, a folder of the four
  IDX files): ``(N, 28, 28)`` uint8 digits, held in memory, zero-padded at the bottom and right
  to a multiple of the grid by the puzzles themselves (``utils.pad_to_grid``), as they always were.
* **An array of images**: an ``.npy`` of ``(N, H, W)`` or ``(N, H, W, C)`` uint8 images, or an
  ``.npz`` that holds ``x_train`` and ``x_test`` (labels are ignored) or one array ``x``. Held
  in memory.
* **A folder of images**, searched recursively: PNG, JPEG, BMP, GIF (first frame), TIFF; any
  size; grayscale, RGB, RGBA or palette. Files are listed once; an image is decoded only when
  a batch needs it, so a folder far larger than memory trains in the memory of a few batches.

**The size rule** (every source but MNIST at its own size): the training size is
``--image-size`` (default: an array's own size, 64 px for a folder), rounded down to a multiple
of the grid so that no piece holds padding. Each image is resized, keeping its aspect ratio, so
that it covers that size, then cropped at the centre. Zero-padding a photograph would hand the
network a shortcut: the pieces with a black strip go in the last column and row.

**Channels**: 1 (grayscale, ``(N, H, W)`` arrays) or 3 (RGB, ``(N, H, W, 3)``). By default,
what the data holds: 1 if every image is grayscale, else 3. An alpha channel is composited
over black; 16-bit images keep their top 8 bits.

**Splits**: sources without a test split of their own (a folder, a single array) hold out one
image in ``TEST_SHARE`` as the test split, drawn by ``TEST_SEED`` from the sorted list of files
(the array's order) alone, so runs of every ``--seed`` are scored on the same images.
``train.py`` splits its validation images off the rest with its ``--seed``.

Only numpy is imported here (Pillow when a folder or an array is resized), so a notebook imports
it without TensorFlow. It imports no other module of the project: ``utils`` re-exports its MNIST
readers.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import os
import pathlib
import threading
import warnings

import numpy as np

SAMPLE_PATH = pathlib.Path(__file__).resolve().parent / "sample" / "mnist_sample.npz"
PHOTOS_PATH = pathlib.Path(__file__).resolve().parent / "sample" / "photos"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
DEFAULT_IMAGE_SIZE = 64  # a folder's training size when --image-size is not given, px
CHANNELS = (1, 3)
MIN_PIECE = 2  # px: the smallest piece side the size rule allows
TEST_SHARE = 10  # one image in this many is a test image, for sources without a test split
TEST_SEED = 0  # draws which ones: fixed, so that every run of a source is scored on the same images
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
SOURCE_HELP = ("an .npz in Keras' MNIST layout, a folder of IDX files, 'sample' (the bundled MNIST sample), "
               "a folder of images (PNG, JPEG, BMP, GIF, TIFF; searched recursively), or an .npy/.npz of uint8 "
               "images (N, H, W[, C])")


# ------------------------------------------------------------------------------ sizes
def parse_image_size(value) -> tuple[int, int] | None:
    """Normalises ``--image-size``: ``48``, ``"48"``, ``"48x64"`` (height x width) or ``(48, 64)``; None stays None.

    Raises:
        ValueError: if it is not one or two positive integers.
    """
    if value is None:
        return None
    text = "x".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--image-size must be a size in pixels like 48 or 48x64 (height x width), got {value!r}")
    size = tuple(int(p) for p in parts)
    return size * 2 if len(size) == 1 else size


def grid_size(image_size, grid) -> tuple[int, int]:
    """The training size of the size rule: ``image_size`` rounded down to a multiple of the grid.

    Args:
        image_size: ``(H, W)`` (or anything ``parse_image_size`` reads).
        grid: an int ``n`` (n x n) or ``(rows, cols)`` of ints, as ``utils.parse_grid`` returns it.

    Returns:
        ``(H', W')``, multiples of ``(rows, cols)``.

    Raises:
        ValueError: if the grid would cut pieces of fewer than ``MIN_PIECE`` px a side.
    """
    height, width = parse_image_size(image_size)
    rows, cols = (int(grid), int(grid)) if np.ndim(grid) == 0 else (int(grid[0]), int(grid[1]))
    if height // rows < MIN_PIECE or width // cols < MIN_PIECE:
        raise ValueError(f"--image-size {height}x{width} cut by a {rows}x{cols} grid leaves pieces under "
                         f"{MIN_PIECE} px a side: give at least {MIN_PIECE * rows}x{MIN_PIECE * cols}")
    return height // rows * rows, width // cols * cols


def crop_box(width, height, size) -> tuple[float, float, float, float]:
    """The centred box of a ``width`` x ``height`` image with the aspect ratio of ``size = (H, W)``.

    Resizing that box to ``size`` is the size rule: the image scaled to cover ``size``, then
    cropped at the centre. Returns ``(left, top, right, bottom)`` in pixels.
    """
    scale = max(size[0] / height, size[1] / width)  # the smallest scale at which the image covers size
    box_w, box_h = size[1] / scale, size[0] / scale
    left, top = max(0.0, (width - box_w) / 2), max(0.0, (height - box_h) / 2)  # never below 0 by rounding
    return left, top, min(float(width), left + box_w), min(float(height), top + box_h)


def fit_image(image, size, channels) -> np.ndarray:
    """One image brought to the training size and channels by the size rule.

    Args:
        image: a ``PIL.Image.Image`` (any mode), or an ``(H, W)`` / ``(H, W, C)`` uint8 array.
        size: ``(H, W)`` to bring it to.
        channels: 1 or 3.

    Returns:
        ``(H, W)`` uint8 for one channel, ``(H, W, 3)`` uint8 for three.
    """
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    image = in_channels(image, channels)
    if image.size != (size[1], size[0]):
        # Pillow reduces a large image by whole factors first (reducing_gap), then resamples:
        # fast and antialiased, and the memory is that of the decoded image.
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR,
                             box=crop_box(*image.size, size), reducing_gap=2.0)
    return np.asarray(image, dtype=np.uint8)


def in_channels(image, channels):
    """A ``PIL.Image.Image`` of any mode as an 8-bit one of ``channels`` (1: mode L, 3: mode RGB)."""
    image = _eight_bit(image)
    if channels == 1:
        return image.convert("L") if image.mode != "L" else image
    return image.convert("RGB") if image.mode != "RGB" else image


def _eight_bit(image):
    """An 8-bit image: 16- and 32-bit grayscale keep their top 8 bits; alpha is composited over black."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image)
        top = 255.0 if image.mode == "F" else 65535.0  # 16-bit PNGs open as "I" in some Pillows
        return Image.fromarray(np.clip(array.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba).convert("RGB" if image.mode not in ("LA", "La") else "L")
    return image


# ----------------------------------------------------------------------- image files
class ImagesLike:
    """What makes images made on demand look like an ``(N, H, W[, 3])`` uint8 array: ``len()`` images of
    ``size`` ``(H, W)`` in ``channels`` (1 or 3). ``ImageFiles`` and ``crops.RandomCrops`` are such."""

    @property
    def shape(self) -> tuple:
        return (len(self), *self.size) + ((3,) if self.channels == 3 else ())

    @property
    def dtype(self):
        return np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return len(self.shape)


class ImageFiles(ImagesLike):
    """A list of image files, decoded on demand at one size: an array that lives on disk.

    ``images[index]`` (an int array, a list or a slice) decodes those files and returns
    ``(n, H, W)`` or ``(n, H, W, 3)`` uint8, like indexing an array of the images would;
    ``images.subset(index)`` is another ``ImageFiles`` of some of the files, decoded nothing.
    Several threads may index it at once (Pillow decodes outside Python's lock).

    A file that cannot be decoded is named in a warning, counted in ``unreadable`` (shared by
    every subset), and its place in the batch taken by the next file of the list that decodes;
    with ``strict``, it is a ValueError instead.
    """

    def __init__(self, root, files, size, channels, strict=False, unreadable=None):
        self.root, self.files = pathlib.Path(root), list(files)
        self.size, self.channels, self.strict = tuple(size), int(channels), strict
        self.unreadable = {} if unreadable is None else unreadable  # relative path -> reason, shared
        self._lock = threading.Lock()

    def __len__(self):
        return len(self.files)

    def joined(self, other) -> ImageFiles:
        """These files, then ``other``'s (of the same folder, size and channels)."""
        return ImageFiles(self.root, self.files + other.files, self.size, self.channels, self.strict, self.unreadable)

    def subset(self, index) -> ImageFiles:
        """The files at ``index`` (ints into this list), decoded nothing."""
        return ImageFiles(self.root, [self.files[i] for i in np.asarray(index, dtype=np.int64).ravel()], self.size,
                          self.channels, self.strict, self.unreadable)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            index = np.arange(len(self.files))[index]
        index = np.asarray(index, dtype=np.int64)
        if index.ndim != 1:
            raise IndexError(f"index ImageFiles with a 1-D array of ints or a slice, got shape {index.shape}")
        out = np.empty((len(index), *self.shape[1:]), np.uint8)
        for row, i in enumerate(index):
            out[row] = self._decode_or_next(int(i))
        return out

    def load(self) -> np.ndarray:
        """Every image, decoded into memory: ``(N, H, W[, 3])`` uint8."""
        return self[np.arange(len(self))]

    def fingerprint(self) -> str:
        """12 hex digits of the SHA-256 of the files' relative paths and sizes, and the size and channels."""
        digest = hashlib.sha256(repr((self.size, self.channels)).encode())
        for name in self.files:
            digest.update(f"{name}\t{(self.root / name).stat().st_size}\n".encode())
        return digest.hexdigest()[:12]

    def _decode_or_next(self, i):
        for step in range(len(self.files)):
            name = self.files[(i + step) % len(self.files)]
            if name in self.unreadable:
                continue
            try:
                return self.decode(name)
            except (OSError, ValueError, SyntaxError) as err:  # what Pillow raises for broken files
                reason = f"{type(err).__name__}: {' '.join(str(err).split())}"
                if self.strict:
                    raise ValueError(f"{self.root / name} cannot be decoded ({reason}); without --strict it is "
                                     "skipped and counted") from None
                with self._lock:
                    self.unreadable[name] = reason
                warnings.warn(f"skipping {self.root / name}: it cannot be decoded ({reason})", stacklevel=2)
        raise ValueError(f"no image under {self.root} can be decoded")

    def decode(self, name) -> np.ndarray:
        """One file, by its path relative to the root, through the size rule."""
        from PIL import Image

        with Image.open(self.root / name) as image:
            if image.format == "JPEG":  # decode at a reduced scale where it still covers the size: less memory
                box = crop_box(*image.size, self.size)
                scale = self.size[0] / (box[3] - box[1])
                image.draft("L" if self.channels == 1 else "RGB",
                            (math.ceil(image.size[0] * scale), math.ceil(image.size[1] * scale)))
            return fit_image(image, self.size, self.channels)


def list_images(folder, strict=False):
    """Lists a folder's image files, recursively and sorted, reading each header once.

    Args:
        folder: the folder.
        strict: make a file that is not an image, or whose header cannot be read, an error.

    Returns:
        ``(files, grayscale, skipped)``: the relative paths (POSIX strings, sorted), whether every
        image is grayscale, and ``{"not_images": n, "unreadable": n}``.

    Raises:
        ValueError: if no image is found (or, with ``strict``, for the first file that is not one).
    """
    from PIL import Image

    folder = pathlib.Path(folder)
    found = sorted(
        pathlib.Path(top, name).relative_to(folder).as_posix()
        for top, dirs, names in os.walk(folder)
        for name in names
        if not name.startswith(".")
    )
    files, grayscale, not_images, unreadable = [], True, [], []
    for name in found:
        if not name.lower().endswith(IMAGE_SUFFIXES):
            not_images.append(name)
            continue
        try:
            with Image.open(folder / name) as image:
                grayscale &= image.mode in GRAY_MODES or (image.mode == "P" and _gray_palette(image))
        except (OSError, ValueError, SyntaxError) as err:
            unreadable.append(f"{name} ({type(err).__name__})")
            continue
        files.append(name)
    if strict and (not_images or unreadable):
        first = (not_images + unreadable)[0]
        raise ValueError(f"--strict: {folder / first.split(' (')[0]} is not a readable image "
                         f"({len(not_images)} other files, {len(unreadable)} unreadable images in {folder})")
    if not_images:
        warnings.warn(f"{folder}: skipping {len(not_images)} file(s) that are not images "
                      f"({', '.join(not_images[:3])}{', ...' if len(not_images) > 3 else ''})", stacklevel=2)
    if unreadable:
        warnings.warn(f"{folder}: skipping {len(unreadable)} image(s) whose header cannot be read "
                      f"({', '.join(unreadable[:3])}{', ...' if len(unreadable) > 3 else ''})", stacklevel=2)
    if not files:
        raise ValueError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}, searched recursively)")
    return files, grayscale, {"not_images": len(not_images), "unreadable": len(unreadable)}


def _gray_palette(image) -> bool:
    palette = np.asarray(image.getpalette() or [], dtype=np.int64)
    rgb = palette[: len(palette) // 3 * 3].reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


# ------------------------------------------------------------------------- a source
@dataclasses.dataclass
class ImageSource:
    """What ``open_images`` found.

    Attributes:
        train, test: the images, ``(N, H, W)`` or ``(N, H, W, 3)`` uint8: arrays, or
            ``ImageFiles`` (a folder, decoded on demand) that index like arrays.
        origin: where they came from: ``"download"``, ``"sample"`` or the path given.
        kind: ``"mnist"`` (kept at its own size, padded to the grid by the puzzles), ``"array"``
            or ``"folder"`` (brought to a multiple of the grid by the size rule).
        fingerprint: 12 hex digits telling these training images from any others (a folder's:
            its files' relative paths and sizes, and the size and channels they are brought to).
        channels: 1 or 3.
        skipped: files that were not used: ``{"not_images": n, "unreadable": n}``.
        labels: ``(y_train, y_test)`` for MNIST, else None.
    """

    train: object
    test: object
    origin: str
    kind: str
    fingerprint: str
    channels: int
    skipped: dict = dataclasses.field(default_factory=lambda: {"not_images": 0, "unreadable": 0})
    labels: tuple | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)`` of every image."""
        return tuple(int(d) for d in self.train.shape[1:3])

    @property
    def streamed(self) -> bool:
        """Whether the images are decoded from files as batches need them."""
        return isinstance(self.train, ImageFiles)


def open_images(data=None, image_size=None, grid=1, channels=None, strict=False, keep_size=False) -> ImageSource:
    """Opens a ``--data`` source (see the module docstring) at the training size and channels.

    Args:
        data: None (Keras' MNIST download, else the bundled sample), ``"sample"``, ``"photos"`` (the
            bundled folder of photographs), or a path: an MNIST ``.npz`` or IDX folder, an ``.npy`` /
            ``.npz`` of images, or a folder of images.
        image_size: ``--image-size``: ``(H, W)``, ``48`` or ``"48x64"``; None for the source's own
            (MNIST and arrays: their size; a folder: ``DEFAULT_IMAGE_SIZE``). Given for MNIST, the
            digits follow the size rule too.
        grid: the puzzles' grid, an int or ``(rows, cols)`` (``utils.parse_grid``); the size rule rounds the
            size down to a multiple of it.
        channels: 1 or 3; None for what the data holds.
        strict: make every file that is not a readable image an error, not a skip.
        keep_size: an array of images keeps its own size (``train.py --crop`` cuts its crops from
            them); a folder's files are read at full size by the crops anyway.

    Returns:
        An ``ImageSource``.

    Raises:
        FileNotFoundError: if the path does not exist.
        ValueError: for data that is none of these, images of the wrong dtype or rank, a folder
            without images, or a size the grid cannot cut into pieces of ``MIN_PIECE`` px.
    """
    if channels is not None and channels not in CHANNELS:
        raise ValueError(f"--channels must be 1 or 3, got {channels}")
    if isinstance(data, str) and data == "photos":
        data = PHOTOS_PATH
    path = None if data is None or (isinstance(data, str) and data == "sample") else pathlib.Path(data).expanduser()
    if path is not None and not path.exists():
        raise FileNotFoundError(f"no data at {path}: give {SOURCE_HELP}")
    if path is not None and path.is_dir() and not is_idx_folder(path):
        return _open_folder(path, image_size, grid, channels, strict)
    if path is not None and path.suffix == ".npy":
        return _open_arrays(_read_npy(path), None, str(data), image_size, grid, channels, keep_size)
    if path is not None and path.suffix == ".npz" and not _is_mnist_npz(path):
        arrays = _read_image_npz(path)
        return _open_arrays(arrays.get("x", arrays.get("x_train")), arrays.get("x_test"), str(data), image_size, grid,
                            channels, keep_size)
    ((x_train, y_train), (x_test, y_test)), origin = load_mnist(data, return_origin=True)
    if image_size is None and channels in (None, 1):
        return ImageSource(x_train, x_test, origin, "mnist", digits_fingerprint(x_train), 1,
                           labels=(y_train, y_test))
    source = _open_arrays(x_train, x_test, origin, image_size, grid, channels)
    return dataclasses.replace(source, labels=(y_train, y_test))


def _open_folder(folder, image_size, grid, channels, strict):
    files, grayscale, skipped = list_images(folder, strict)
    size = grid_size(image_size or DEFAULT_IMAGE_SIZE, grid)
    channels = channels or (1 if grayscale else 3)
    every = ImageFiles(folder, files, size, channels, strict)
    train, test = split_off_test(len(files))
    train = every.subset(train)
    return ImageSource(train, every.subset(test), str(folder), "folder", train.fingerprint(), channels, skipped)


def _open_arrays(x_train, x_test, origin, image_size, grid, channels, keep_size=False):
    x_train = check_image_array(x_train, origin)
    if x_test is None:  # one array: a tenth of it is the test split
        train, test = split_off_test(len(x_train))
        x_train, x_test = x_train[train], x_train[test]
    x_test = check_image_array(x_test, origin, "x_test")
    held = 1 if x_train.ndim == 3 or x_train.shape[3] == 1 else 3
    channels = channels or held
    size = grid_size(image_size or x_train.shape[1:3], grid)
    if keep_size:
        x_train, x_test = (fit_array(x, x.shape[1:3], channels) for x in (x_train, x_test))
        return ImageSource(x_train, x_test, origin, "array", digits_fingerprint(x_train), channels)
    x_train, x_test = (fit_array(x, size, channels) for x in (x_train, x_test))
    return ImageSource(x_train, x_test, origin, "array", digits_fingerprint(x_train), channels)


def fit_array(images, size, channels) -> np.ndarray:
    """Every image of an array through the size rule (``fit_image``); the array itself if nothing changes.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)`` uint8, C in 1, 3, 4.
        size: ``(H, W)``.
        channels: 1 or 3.

    Returns:
        ``(N, H, W)`` uint8 for one channel, ``(N, H, W, 3)`` for three.
    """
    held = 1 if images.ndim == 3 or images.shape[3] == 1 else images.shape[3]
    if tuple(images.shape[1:3]) == tuple(size) and held == channels:
        return images[..., 0] if images.ndim == 4 and channels == 1 else images
    out = np.empty((len(images), *size) + ((3,) if channels == 3 else ()), np.uint8)
    for i, image in enumerate(images):
        out[i] = fit_image(image, size, channels)
    return out


def split_off_test(num) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``num`` images are training and which test images, for a source without a test split.

    One in ``TEST_SHARE`` (at least one) is a test image, drawn by ``TEST_SEED``.

    Returns:
        ``(train_index, test_index)``: sorted, disjoint int64 arrays.

    Raises:
        ValueError: for fewer than two images.
    """
    if num < 2:
        raise ValueError(f"at least 2 images are needed (one to train on, one to test), got {num}")
    order = np.random.default_rng(TEST_SEED).permutation(num)
    cut = max(1, num // TEST_SHARE)
    return np.sort(order[cut:]), np.sort(order[:cut])


def check_image_array(images, where, name="images") -> np.ndarray:
    """Checks an array of images: uint8, ``(N, H, W)`` or ``(N, H, W, C)`` with C in 1, 3, 4, N > 0.

    Raises:
        ValueError: naming what is wrong.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3, 4)) or not len(images):
        raise ValueError(f"{name} in {where} must have shape (N, H, W) or (N, H, W, C) with C 1, 3 or 4 and N > 0, "
                         f"got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"{name} in {where} must be uint8 (0-255), got {images.dtype}")
    return images


def is_idx_folder(path) -> bool:
    """Whether a folder holds MNIST's IDX files (rather than images)."""
    return any(_idx_file(pathlib.Path(path), stem) for stem in _IDX_FILES.values())


def _is_mnist_npz(path) -> bool:
    try:
        with np.load(path, allow_pickle=False) as data:
            return set(MNIST_KEYS) <= set(data.files)
    except Exception:
        return True  # let the MNIST reader name the problem


def _read_npy(path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:
        raise ValueError(f"{path} is not a readable .npy file ({type(err).__name__})") from None


def _read_image_npz(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in ("x", "x_train", "x_test") if key in data.files}
    except Exception as err:
        raise ValueError(f"{path} is not a readable .npz file ({type(err).__name__})") from None
    if "x" not in arrays and not {"x_train", "x_test"} <= set(arrays):
        raise ValueError(f"{path} holds neither x_train and x_test nor one array x: an .npz of images names them so")
    return arrays


# ------------------------------------------------------------------------------ MNIST
def load_mnist(source=None, return_origin=False):
    """Loads MNIST as uint8 arrays.

    Args:
        source: where the digits come from:
            None: Keras' own cached download (``keras.datasets.mnist.load_data``); when that
            is impossible (offline) it warns and falls back to the bundled sample;
            ``"sample"``: the small real-MNIST sample shipped in ``sample/``;
            a path to an ``.npz`` in Keras' layout (``x_train``, ``y_train``, ``x_test``,
            ``y_test``);
            a folder holding the four IDX files (``train-images-idx3-ubyte`` etc., gzipped
            or not).
        return_origin: also return where the digits came from.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images ``(N, 28, 28)`` uint8 0-255 and
        labels ``(N,)`` uint8. With ``return_origin``, the pair ``(those, origin)``:
        ``"download"``, ``"sample"`` (asked for, or the offline fallback) or the path given.

    Raises:
        FileNotFoundError: if the path, or one of the IDX files, does not exist.
        ValueError: if a file is unreadable or its arrays are not MNIST-shaped.
    """
    if source is None:
        try:
            import keras

            arrays = dict(zip(MNIST_KEYS, _flatten(keras.datasets.mnist.load_data()), strict=True))
        except Exception as err:  # no network, blocked host, broken cache...
            warnings.warn(
                f"could not download MNIST ({type(err).__name__}: {' '.join(str(err).split())}); "
                f"using the small sample in {SAMPLE_PATH.relative_to(SAMPLE_PATH.parents[1])} "
                "instead. Pass a full copy with --data path/to/mnist.npz "
                "(or load_mnist('path/to/mnist.npz')).",
                stacklevel=2,
            )
            return load_mnist("sample", return_origin)
        splits = _check_mnist(arrays, "Keras' MNIST download")
        return (splits, "download") if return_origin else splits
    path = SAMPLE_PATH if isinstance(source, str) and source == "sample" else pathlib.Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no MNIST data at {path} (give an .npz file, an IDX folder or 'sample')")
    arrays = _read_idx_folder(path) if path.is_dir() else _read_npz(path)
    splits = _check_mnist(arrays, str(path))
    return (splits, str(source)) if return_origin else splits


def digits_fingerprint(images) -> str:
    """A short fingerprint of a set of images: 12 hex digits of the SHA-256 of their shape and pixels.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)`` uint8 images.

    Returns:
        The same string for the same images in the same order; another for any other set.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    digest = hashlib.sha256(repr(images.shape).encode())
    digest.update(images.tobytes())
    return digest.hexdigest()[:12]


def load_test_digits(path) -> tuple[np.ndarray, np.ndarray]:
    """Labelled digits to score a saved model on: an ``.npz`` with ``x_test`` and ``y_test`` (others ignored).

    Args:
        path: the ``.npz`` file (an MNIST copy in Keras' layout is one).

    Returns:
        ``(x_test, y_test)``: ``(N, H, W)`` uint8 and ``(N,)`` uint8.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if it is unreadable, lacks the arrays or holds arrays of the wrong shape.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no digits at {path} (give an .npz file with x_test and y_test)")
    return _check_mnist(_read_npz(path, ("x_test", "y_test")), str(path), splits=("test",))[0]


def _flatten(pairs):
    (x_train, y_train), (x_test, y_test) = pairs
    return x_train, y_train, x_test, y_test


def _read_npz(path, keys=MNIST_KEYS) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in keys if key in data.files}
    except Exception as err:  # BadZipFile, EOFError, OSError, pickled objects, not an npz...
        # numpy's own message about a text file suggests allow_pickle, which is the wrong fix here.
        raise ValueError(f"{path} is not a readable .npz file ({type(err).__name__}); MNIST data is an .npz in "
                         "Keras' layout, a folder of the four IDX files (gzipped or not), or 'sample'") from None
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise ValueError(
            f"{path} lacks the array(s) {', '.join(missing)}; an MNIST .npz holds "
            f"{', '.join(keys)} (Keras' layout)"
        )
    return arrays


_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _read_idx_folder(folder) -> dict:
    arrays = {}
    for key, stem in _IDX_FILES.items():
        found = _idx_file(folder, stem)
        if found is None:
            raise FileNotFoundError(
                f"{folder} has no {stem}[.gz]; an MNIST IDX folder holds {', '.join(_IDX_FILES.values())}"
            )
        arrays[key] = _read_idx(found)
    return arrays


def _idx_file(folder, stem):
    """The file of ``stem`` in ``folder``: the official name or the common "train-images.idx3-ubyte", gzipped or not."""
    candidates = [folder / (name + ext) for name in (stem, stem.replace("-idx", ".idx")) for ext in ("", ".gz")]
    return next((c for c in candidates if c.is_file()), None)


def _read_idx(path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise ValueError(f"{path} is not a readable IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != header + int(np.prod(dims)):
        raise ValueError(f"{path} is truncated or corrupt: header says {dims}, file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _check_mnist(arrays, where, splits=("train", "test")):
    checked = []
    for split in splits:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[0] == 0:
            raise ValueError(f"x_{split} in {where} must have shape (N, H, W), got {x.shape}")
        if x.dtype != np.uint8:
            raise ValueError(f"x_{split} in {where} must be uint8 0-255, got {x.dtype}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y_{split} in {where} must have shape ({x.shape[0]},), got {y.shape}")
        checked.append((x, y.astype(np.uint8)))
    return tuple(checked)
