"""Fresh random crops of large images: many training puzzles from a few photographs.

A folder of twenty photographs makes twenty puzzles an epoch under the size rule (``data.py``),
and a network soon learns where each photograph's textures go instead of which borders
continue each other. ``RandomCrops`` makes them many: every time an image is drawn it takes a
new random box of it (a side of ``SCALE`` of the image's shorter side, an aspect ratio within
``ASPECT``), resizes the box to the training size, and, as asked, flips it left to right,
jitters its brightness, contrast and saturation, and turns it gray. ``train.py --crop`` trains
on these.

**Repeatable.** Draw ``i`` of epoch ``e`` is a pure function of ``(seed, e, i)``: a resumed run
sees the crops the uninterrupted one would have, and ``fixed(n)`` (the validation crops) is
the same ``n`` crops, unflipped and unjittered, every time.

**Photographs** are decoded once, reduced so that the smallest crop still covers the training
size (a JPEG through its decoder's own reduced scales, fast), and kept in a cache of at most
``cache_mb`` MiB: a folder of 100,000 photographs streams in the memory of the cache. EXIF
orientation is honoured (a phone's portrait photograph stands upright), CMYK, palette, 16-bit and
alpha images are converted as ``data.in_channels`` converts them, and an animated GIF gives its
first frame. **Too small**: an image whose shorter side is under the training size's longer side
cannot give a crop without enlarging it; it is left out, named in a warning and counted
(``too_small``); a file that cannot be decoded, likewise (``unreadable``).

Numpy and Pillow only, no TensorFlow.
"""

from __future__ import annotations

import collections
import math
import threading
import warnings

import numpy as np

import data

SCALE = (0.15, 0.6)  # a crop's side, as a share of the image's shorter side
ASPECT = (0.75, 4 / 3)  # a crop's height over width
DEFAULT_CROPS_PER_EPOCH = 4096
DEFAULT_CACHE_MB = 64
VAL_CROPS = 500  # validation crops of held-out photographs, when no --val-data is given


def crop_box(rng, height, width, scale=SCALE, aspect=ASPECT, least=1) -> tuple[int, int, int, int]:
    """A random box of an ``height`` x ``width`` image: ``(top, left, box_h, box_w)`` in pixels.

    The box's side is ``scale`` of the shorter side (never below ``least`` px, never beyond the
    image), its height over width within ``aspect``; its place is uniform over the image.
    """
    side = max(least, rng.uniform(*scale) * min(height, width))
    ratio = rng.uniform(*aspect)
    box_h = int(min(height, max(least, round(side * math.sqrt(ratio)))))
    box_w = int(min(width, max(least, round(side / math.sqrt(ratio)))))
    return int(rng.integers(0, height - box_h + 1)), int(rng.integers(0, width - box_w + 1)), box_h, box_w


def open_photograph(path, channels, shorter=None):
    """One image file as a ``PIL.Image.Image`` in ``channels``: upright (EXIF), an animation's first frame.

    With ``shorter``, a JPEG larger than that on its shorter side is decoded at the smallest of
    its decoder's reduced scales that still keeps ``shorter`` px (fast, and little memory).
    """
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.seek(0)  # an animated GIF or a multi-page TIFF: its first frame
        if shorter and image.format == "JPEG" and min(image.size) > shorter:
            image.draft(image.mode, tuple(math.ceil(s * shorter / min(image.size)) for s in image.size))
        upright = ImageOps.exif_transpose(image)  # a loaded copy: the file may close
        return data.in_channels(upright, channels)


class RandomCrops(data.ImagesLike):
    """Images that give a fresh random crop every time one is drawn.

    Args:
        images: a folder's ``data.ImageFiles`` (only its files are used: each is read at full
            size, not through its size rule), or an ``(N, H, W[, C])`` uint8 array.
        size: ``(H, W)`` of every crop.
        channels: 1 or 3.
        per_epoch: crops an epoch: ``len()`` of this object.
        seed: the seed of every draw.
        flip: flip half the crops left to right.
        jitter: colour jitter strength: brightness and contrast are scaled by a factor in
            ``[1 - jitter, 1 + jitter]``, and so is saturation (colour only); 0 for none.
        gray: the share of crops turned gray (colour only; their three channels equal).
        cache_mb: at most this many MiB of decoded photographs are kept.

    Raises:
        ValueError: if no image is large enough to crop (see the module docstring).
    """

    def __init__(self, images, size, channels, per_epoch=DEFAULT_CROPS_PER_EPOCH, seed=0, flip=True, jitter=0.0,
                 gray=0.0, cache_mb=DEFAULT_CACHE_MB):
        if per_epoch < 1:
            raise ValueError(f"--crops-per-epoch must be at least 1, got {per_epoch}")
        if not 0 <= jitter < 1:
            raise ValueError(f"--jitter must lie in [0, 1), got {jitter}")
        if not 0 <= gray <= 1:
            raise ValueError(f"--gray must lie in [0, 1], got {gray}")
        self.images, self.size, self.channels = images, tuple(int(s) for s in size), int(channels)
        self.per_epoch, self.seed, self.flip, self.jitter, self.gray = int(per_epoch), seed, flip, jitter, gray
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache = collections.OrderedDict()  # index -> reduced image, least recently used first
        self._cached_bytes, self._lock = 0, threading.Lock()
        self.too_small, self.unreadable = {}, {}  # name -> its size, name -> the reason
        self.epoch = 0
        self._usable = self._find_usable()

    @property
    def files(self) -> bool:
        return isinstance(self.images, data.ImageFiles)

    def _name(self, i) -> str:
        return self.images.files[i] if self.files else f"image {i}"

    def _find_usable(self) -> np.ndarray:
        """The indices of the images large enough to crop (a folder: from the headers alone)."""
        from PIL import Image

        least = max(self.size)
        usable = []
        for i in range(len(self.images)):
            if self.files:
                try:
                    with Image.open(self.images.root / self.images.files[i]) as image:
                        width, height = image.size
                        if (image.getexif() or {}).get(0x0112, 1) in (5, 6, 7, 8):  # stored on its side
                            width, height = height, width
                except (OSError, ValueError, SyntaxError) as err:
                    self.unreadable[self._name(i)] = f"{type(err).__name__}: {err}"
                    continue
            else:
                height, width = self.images.shape[1:3]
            if min(height, width) < least:
                self.too_small[self._name(i)] = f"{width}x{height}"
                continue
            usable.append(i)
        for what, found in ((f"smaller than the crop on their shorter side ({max(self.size)} px)", self.too_small),
                            ("whose header cannot be read", self.unreadable)):
            if found:
                names = ", ".join(list(found)[:3]) + (", ..." if len(found) > 3 else "")
                warnings.warn(f"skipping {len(found)} image(s) {what}: {names}", stacklevel=3)
        if not usable:
            raise ValueError(f"no image can be cropped to {self.size[0]}x{self.size[1]} px: every one is smaller "
                             f"on its shorter side or unreadable ({len(self.too_small)} too small, "
                             f"{len(self.unreadable)} unreadable)")
        return np.asarray(usable, dtype=np.int64)

    @property
    def skipped(self) -> dict:
        """``{"too_small": n, "unreadable": n}``: the images left out."""
        return {"too_small": len(self.too_small), "unreadable": len(self.unreadable)}

    def __len__(self):
        return self.per_epoch

    def __getitem__(self, index) -> np.ndarray:
        """Draws ``index`` (ints in ``[0, per_epoch)``) of the current ``epoch``: ``(n, H, W[, 3])`` uint8."""
        return self.draw(self.epoch, index)

    def draw(self, epoch, index) -> np.ndarray:
        """Crops ``index`` of ``epoch``, each a pure function of ``(seed, epoch, index)``."""
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        out = np.empty((len(index), *self.shape[1:]), np.uint8)
        for row, i in enumerate(index):
            out[row] = self.crop(np.random.default_rng([self.seed, epoch, int(i)]), augment=True)
        return out

    def fixed(self, num) -> np.ndarray:
        """``num`` crops fixed by the seed alone (no flip, no jitter): validation images, ``(num, H, W[, 3])``."""
        rng = np.random.default_rng([self.seed, 2**31 - 1])
        return np.stack([self.crop(rng, augment=False) for _ in range(num)])

    def crop(self, rng, augment=True) -> np.ndarray:
        """One random crop, drawn from ``rng``: ``(H, W)`` or ``(H, W, 3)`` uint8."""
        from PIL import Image

        image = None
        while image is None:  # a file whose header read but whose pixels do not: named, counted, drawn again
            i = int(self._usable[rng.integers(len(self._usable))])
            image = self._reduced_or_none(i)
        height, width = image.shape[:2]
        # Never a box smaller than the crop: it would be enlarged, blurring the borders.
        top, left, box_h, box_w = crop_box(rng, height, width, least=min(max(self.size), height, width))
        box = Image.fromarray(image[top : top + box_h, left : left + box_w])
        crop = box.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR, reducing_gap=2.0)
        out = np.asarray(crop, dtype=np.uint8)
        flip, factors, gray = rng.random() < 0.5, rng.uniform(-1, 1, 3), rng.random() < self.gray
        if not augment:
            return out
        if self.flip and flip:
            out = out[:, ::-1]
        if self.jitter:
            out = self._jittered(out, 1 + self.jitter * factors)
        if gray and self.channels == 3:
            out = np.repeat(np.asarray(Image.fromarray(out).convert("L"))[..., None], 3, axis=2)
        return np.ascontiguousarray(out)

    def _jittered(self, image, factors) -> np.ndarray:
        brightness, contrast, saturation = factors
        x = image.astype(np.float32) * brightness
        x = (x - x.mean()) * contrast + x.mean()
        if self.channels == 3:
            gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
            x = (x - gray[..., None]) * saturation + gray[..., None]
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)

    def _reduced_or_none(self, i):
        name = self._name(i)
        if name in self.unreadable:
            return None
        try:
            return self._reduced(i)
        except (OSError, ValueError, SyntaxError) as err:  # what Pillow raises for broken files
            with self._lock:
                self.unreadable[name] = f"{type(err).__name__}: {' '.join(str(err).split())}"
                left = len(self._usable) - sum(self._name(int(j)) in self.unreadable for j in self._usable)
            warnings.warn(f"skipping {name}: it cannot be decoded ({self.unreadable[name]})", stacklevel=4)
            if not left:
                raise ValueError("no image can be decoded: every one was skipped") from None
            return None

    def _reduced(self, i) -> np.ndarray:
        """Image ``i`` decoded and reduced (cached): ``(h, w[, 3])`` uint8.

        Reduced so that its shorter side stays at least ``max(size) / SCALE[0]``: the smallest
        crop then still holds every pixel the training size needs.
        """
        with self._lock:
            if i in self._cache:
                self._cache.move_to_end(i)
                return self._cache[i]
        from PIL import Image

        keep = max(self.size) / SCALE[0]  # the shorter side worth keeping, px
        if self.files:
            image = open_photograph(self.images.root / self.images.files[i], self.channels, keep)
        else:
            array = self.images[i]
            image = data.in_channels(Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1
                                                     else array), self.channels)
        if min(image.size) > keep:
            scale = keep / min(image.size)
            image = image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))),
                                 Image.Resampling.BILINEAR, reducing_gap=2.0)
        reduced = np.asarray(image, dtype=np.uint8)
        with self._lock:
            self._cache[i] = reduced
            self._cached_bytes += reduced.nbytes
            while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.nbytes
        return reduced
