"""Keypoints in COCO's format: read them, crop each instance, make its heatmaps, score with COCO's evaluator.

This module is the one owner of COCO-format keypoints, the format COCO, CrowdPose, OCHuman,
MacaquePose, AP-10K and most annotation tools export. ``transfer.py --task keypoints`` uses it;
a notebook can too, without TensorFlow (numpy and Pillow; ``pycocotools`` to score).

**The file.** A JSON with ``images`` (``id``, ``file_name``, ``width``, ``height``),
``annotations`` (``id``, ``image_id``, ``category_id``, ``bbox = [x, y, w, h]``, ``keypoints =
[x1, y1, v1, ...]``) and ``categories`` whose ``keypoints`` list the K keypoint names. ``v`` is
COCO's visibility: 0 not labelled, 1 labelled but hidden, 2 labelled and visible. Coordinates
are COCO's: continuous pixels, the image's top-left corner at (0, 0).

**Top-down crops.** Every instance with at least one labelled keypoint (``v > 0``) is one
example: its box, enlarged ``BOX_SCALE`` times about its centre and widened or heightened to
the network's aspect ratio, is resized to the network's input size (Pillow, bilinear; outside
the image is black). Instances with no labelled keypoint are skipped and counted.

**Heatmaps.** One per keypoint name: a Gaussian of std ``sigma`` px at the keypoint in the
crop, peak 1. A keypoint that is not labelled (``v = 0``) has its heatmap filled with
``UNLABELLED`` (-1), which the loss (``model_utils.masked_heatmap_loss``) leaves out.
A horizontal flip of a crop swaps the heatmaps of each left/right pair, found by name
(``left_wrist`` and ``right_wrist``): ``flip_pairs``.

**Scores.** A keypoint is read from its heatmap at the maximum, moved a quarter pixel towards
the higher neighbour on each axis (as pose networks decode), and mapped back into the image.
OKS AP (AP, AP50, AP75) is computed by ``pycocotools.cocoeval.COCOeval`` with ``iouType=
"keypoints"``, COCO's official evaluator, not re-implemented, against the file's own
annotations of the scored images as written: OKS scales each keypoint's error by the
annotation's ``area`` (COCO's is the segmentation's, far smaller than its box), and crowd
instances and instances with no labelled keypoint are there for COCOeval to ignore as it does.
Where the file leaves a field out, ``load`` fills it (``FILLED``) and counts it in
``Keypoints.filled``: ``area`` from the box, ``w * h`` (more lenient than a segmentation's
area); ``bbox`` around the labelled keypoints; ``iscrowd`` 0; ``num_keypoints`` counted. The
per-keypoint sigmas are
COCO's when the names are COCO's 17 (``COCO_SIGMAS``), else ``DEFAULT_OKS_SIGMA`` for every
keypoint, or the user's. PCK@0.1: a labelled keypoint is correct within 0.1 of its box's
longer side; overall and per keypoint.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import pathlib

import numpy as np

BOX_SCALE = 1.25  # a box is enlarged this much about its centre before it is cropped
UNLABELLED = -1.0  # a heatmap of a keypoint that is not labelled is filled with this: left out of the loss
PCK_THRESHOLD = 0.1  # PCK: correct within this share of the box's longer side
# COCO's 17 person keypoints and the per-keypoint sigmas its keypoint AP uses (cocoeval.py).
COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")
COCO_SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
                 (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))  # 1-based, as COCO's
COCO_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087,
               0.087, 0.089, 0.089)
DEFAULT_OKS_SIGMA = 0.067  # for other keypoint names: the mean of COCO's 17, rounded
# The annotation fields COCOeval reads that a file may leave out, and what load() puts in their place.
FILLED = {"area": "the box's w * h", "bbox": "the box around the labelled keypoints", "iscrowd": "0",
          "num_keypoints": "the labelled keypoints, counted"}


@dataclasses.dataclass
class Keypoints:
    """A COCO keypoints file, checked: its keypoint names and the instances to crop.

    Attributes:
        path: the annotation file.
        root: the folder its ``file_name`` s are relative to.
        names: the K keypoint names, in the file's order.
        skeleton: the category's skeleton, pairs of 1-based keypoint numbers (may be empty).
        category_id: the keypoint category's id.
        images: image id -> ``(file name, width, height)``.
        image_ids: ``(N,)`` int64, the image of each instance.
        ann_ids: ``(N,)`` int64, each instance's annotation id.
        boxes: ``(N, 4)`` float64 ``[x, y, w, h]`` boxes.
        keypoints: ``(N, K, 3)`` float64 ``[x, y, v]`` keypoints.
        skipped: instances skipped, by reason: ``{"no_labelled_keypoint": n, "crowd": n}``.
        annotations: image id -> the file's annotations of the category in that image, crowd and
            unlabelled ones too, as written but for the ``FILLED`` fields it left out: what
            ``ground_truth`` scores against.
        filled: how many annotations had each ``FILLED`` field filled in, ``{field: n}``.
    """

    path: pathlib.Path
    root: pathlib.Path
    names: tuple
    skeleton: tuple
    category_id: int
    images: dict
    image_ids: np.ndarray
    ann_ids: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    skipped: dict
    annotations: dict = dataclasses.field(default_factory=dict)
    filled: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.ann_ids)

    def subset(self, index) -> Keypoints:
        """The instances at ``index``, with every image of the file (COCOeval looks them up by id)."""
        index = np.asarray(index)
        return dataclasses.replace(self, image_ids=self.image_ids[index], ann_ids=self.ann_ids[index],
                                   boxes=self.boxes[index], keypoints=self.keypoints[index])

    def ground_truth(self) -> dict:
        """What ``COCOeval`` scores this set against, as a COCO dataset dict: the file's own annotations.

        The images of this set's instances, with the file's annotations in them as written
        (``area``, ``iscrowd``, ``num_keypoints``): this set's instances, and the crowd and
        unlabelled ones that COCOeval ignores. Labelled instances of those images outside this
        set (another subset's) are left out. Scoring the whole file, or a subset made of whole
        images, is so COCOeval run directly on the file (its images restricted to this set's).
        """
        used = sorted(set(self.image_ids.tolist()))
        scored = set(self.ann_ids.tolist())
        annotations = [a for i in used for a in self.annotations.get(i, ())
                       if a["id"] in scored or a["iscrowd"] or not a["num_keypoints"]]
        return {"images": [{"id": i, "file_name": self.images[i][0], "width": self.images[i][1],
                            "height": self.images[i][2]} for i in used],
                "annotations": annotations,
                "categories": [{"id": self.category_id, "name": "keypoints", "keypoints": list(self.names),
                                "skeleton": [list(pair) for pair in self.skeleton]}]}


def _fail(path, message):
    raise ValueError(f"{path}: {message}")


def load(annotations, images=None) -> Keypoints:
    """Reads and checks a COCO keypoints file.

    Args:
        annotations: the JSON file.
        images: the folder its images' ``file_name`` s are relative to (default: the file's folder).

    Returns:
        The file's ``Keypoints``: every instance with a labelled keypoint (crowd instances and
        instances with none are skipped and counted).

    Raises:
        FileNotFoundError: if the file, the folder or an image it names is missing (the first
            missing one is named, and how many are).
        ValueError: if the file is not COCO keypoints (no ``keypoints`` in its category,
            keypoint arrays of the wrong length), or a box is empty or outside its image.
    """
    path = pathlib.Path(annotations).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no such annotation file: {path}")
    root = pathlib.Path(images).expanduser() if images is not None else path.parent
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder of images: {root}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list)
                                             for key in ("images", "annotations", "categories")):
        _fail(path, "not a COCO annotation file: it needs the lists 'images', 'annotations' and 'categories'")
    categories = [c for c in data["categories"] if isinstance(c, dict) and c.get("keypoints")]
    if not categories:
        _fail(path, "not COCO keypoints: no category lists its 'keypoints' (their names)")
    used = {a.get("category_id") for a in data["annotations"] if isinstance(a, dict)}
    categories = [c for c in categories if c.get("id") in used] or categories[:1]
    if len({tuple(c["keypoints"]) for c in categories}) > 1:
        _fail(path, "its categories name different keypoints; give one category's instances at a time")
    category = categories[0]
    names = tuple(str(name) for name in category["keypoints"])
    if len(set(names)) != len(names):
        _fail(path, f"its keypoint names repeat: {list(names)}")
    ids = {c["id"] for c in categories}
    images_by_id = {}
    for image in data["images"]:
        try:
            images_by_id[int(image["id"])] = (str(image["file_name"]), int(image["width"]), int(image["height"]))
        except (KeyError, TypeError, ValueError):
            _fail(path, f"an image entry needs an id, a file_name, a width and a height: {str(image)[:200]}")
    k = len(names)
    skipped = {"no_labelled_keypoint": 0, "crowd": 0}
    filled = dict.fromkeys(FILLED, 0)
    written = {}  # image id -> the file's annotations there, for ground_truth
    rows = []
    for a in data["annotations"]:
        if not isinstance(a, dict) or a.get("category_id") not in ids:
            continue
        ann = a.get("id")
        points = a.get("keypoints")
        if not isinstance(points, list) or len(points) != 3 * k:
            _fail(path, f"annotation {ann}: its keypoints must be {3 * k} numbers (x, y, v for each of the "
                        f"{k} names), got {len(points) if isinstance(points, list) else points!r}")
        if a.get("image_id") not in images_by_id:
            _fail(path, f"annotation {ann}: no image has its image_id {a.get('image_id')!r}")
        points = np.asarray(points, dtype=np.float64).reshape(k, 3)
        if not np.isin(points[:, 2], (0, 1, 2)).all():
            _fail(path, f"annotation {ann}: a visibility v must be 0, 1 or 2, got {sorted(set(points[:, 2]))}")
        try:
            written.setdefault(int(a["image_id"]), []).append(_as_written(a, points, filled))
        except (TypeError, ValueError, IndexError):
            _fail(path, f"annotation {ann}: its area must be a number and its bbox [x, y, w, h], got "
                        f"{a.get('area')!r} and {a.get('bbox')!r}")
        if a.get("iscrowd"):
            skipped["crowd"] += 1
            continue
        if not (points[:, 2] > 0).any():
            skipped["no_labelled_keypoint"] += 1
            continue
        _, width, height = images_by_id[a["image_id"]]
        box = np.asarray(a.get("bbox") or _box_of(points), dtype=np.float64)
        if box.shape != (4,) or not (box[2] > 0 and box[3] > 0):
            _fail(path, f"annotation {ann}: its bbox must be [x, y, w, h] with w, h > 0, got {a.get('bbox')}")
        if box[0] >= width or box[1] >= height or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
            _fail(path, f"annotation {ann}: its bbox {box.tolist()} lies outside its {width}x{height} image")
        rows.append((int(ann), int(a["image_id"]), box, points))
    if not rows:
        _fail(path, f"no instance with a labelled keypoint (skipped: {skipped})")
    missing = sorted({images_by_id[r[1]][0] for r in rows if not (root / images_by_id[r[1]][0]).is_file()})
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) that {path.name} names are not in {root}, the first: "
                                f"{missing[0]}")
    return Keypoints(path, root, names, tuple(tuple(pair) for pair in category.get("skeleton") or ()),
                     int(category["id"]), images_by_id, np.array([r[1] for r in rows], np.int64),
                     np.array([r[0] for r in rows], np.int64), np.stack([r[2] for r in rows]),
                     np.stack([r[3] for r in rows]), skipped, written, filled)


def _as_written(annotation, points, filled):
    """``annotation`` as COCOeval reads it: the file's fields, the ``FILLED`` ones it lacks filled in and counted."""
    out = {key: annotation[key] for key in ("id", "image_id", "category_id") if key in annotation}
    out["keypoints"] = points.reshape(-1).tolist()
    # In this order: a missing area comes from the bbox, the file's or its own filled-in one.
    defaults = {"bbox": lambda: _box_of(points) if (points[:, 2] > 0).any() else [0.0, 0.0, 0.0, 0.0],
                "iscrowd": lambda: 0, "num_keypoints": lambda: int((points[:, 2] > 0).sum()),
                "area": lambda: out["bbox"][2] * out["bbox"][3]}
    for key, default in defaults.items():
        given = annotation.get(key)
        if given is None:
            filled[key] += 1
        out[key] = given if given is not None else default()
    out["area"] = float(out["area"])
    return out


def _box_of(points):
    """The box around the labelled keypoints, for an instance without a bbox."""
    labelled = points[points[:, 2] > 0, :2]
    low, high = labelled.min(0), labelled.max(0)
    return [*low, *np.maximum(high - low, 1.0)]


def flip_pairs(names) -> np.ndarray:
    """The heatmap order after a horizontal flip: each ``left...`` name swapped with its ``right...`` name.

    Returns:
        ``(K,)`` int64: flipped heatmap ``i`` is heatmap ``order[i]`` of the flipped crop.
    """
    index = {name: i for i, name in enumerate(names)}
    order = np.arange(len(names))
    for i, name in enumerate(names):
        for side, other in (("left", "right"), ("right", "left"), ("Left", "Right"), ("Right", "Left")):
            if side in name and name.replace(side, other) in index:
                order[i] = index[name.replace(side, other)]
                break
    return order


def oks_sigmas(names, sigmas=None) -> np.ndarray:
    """The per-keypoint sigmas of OKS: ``sigmas`` if given, COCO's for its 17 names, else ``DEFAULT_OKS_SIGMA``.

    Raises:
        ValueError: if ``sigmas`` does not give one positive number per keypoint.
    """
    if sigmas is not None:
        sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
        if len(sigmas) != len(names) or not (sigmas > 0).all():
            raise ValueError(f"--oks-sigmas needs one positive number per keypoint ({len(names)}: "
                             f"{', '.join(names)}), got {len(sigmas)}")
        return sigmas
    if tuple(names) == COCO_KEYPOINTS:
        return np.array(COCO_SIGMAS)
    return np.full(len(names), DEFAULT_OKS_SIGMA)


# ------------------------------------------------------------------------------ crops
def crop_boxes(boxes, shape, scale=BOX_SCALE) -> np.ndarray:
    """The region of the image each instance's crop shows.

    Args:
        boxes: ``(N, 4)`` ``[x, y, w, h]``.
        shape: the crop's ``(H, W)``.
        scale: how much the box is enlarged about its centre.

    Returns:
        ``(N, 4)`` float64 ``[left, top, right, bottom]``: the box enlarged, then widened or
        heightened about its centre to the aspect ratio ``W / H``.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    w, h = boxes[:, 2] * scale, boxes[:, 3] * scale
    aspect = shape[1] / shape[0]
    w, h = np.maximum(w, h * aspect), np.maximum(h, w / aspect)
    return np.stack([centre[:, 0] - w / 2, centre[:, 1] - h / 2, centre[:, 0] + w / 2, centre[:, 1] + h / 2], 1)


def to_crop(points, regions, shape) -> np.ndarray:
    """Image coordinates ``(N, K, 2)`` -> crop coordinates, for crops of ``regions`` (``crop_boxes``) at ``shape``."""
    scale = np.stack([shape[1] / (regions[:, 2] - regions[:, 0]), shape[0] / (regions[:, 3] - regions[:, 1])], 1)
    return (points - regions[:, None, :2]) * scale[:, None]


def to_image(points, regions, shape) -> np.ndarray:
    """Crop coordinates ``(N, K, 2)`` -> image coordinates: ``to_crop``'s inverse."""
    scale = np.stack([(regions[:, 2] - regions[:, 0]) / shape[1], (regions[:, 3] - regions[:, 1]) / shape[0]], 1)
    return points * scale[:, None] + regions[:, None, :2]


def crops(keypoints, shape, channels=3, index=None, flip=None):
    """Instances cropped from their images, and their keypoints in crop coordinates.

    Args:
        keypoints: a ``Keypoints``.
        shape: the crop's ``(H, W)``.
        channels: 1 or 3.
        index: the instances (default all).
        flip: ``(n,)`` bool, which crops to flip horizontally (their left/right keypoints swapped).

    Returns:
        ``(images, points, regions)``: ``(n, H, W)`` (1 channel) or ``(n, H, W, 3)`` uint8 crops;
        ``(n, K, 3)`` float64 ``[x, y, v]`` in the crop; ``(n, 4)`` the image regions cropped.
    """
    from PIL import Image

    import data

    index = np.arange(len(keypoints)) if index is None else np.asarray(index)
    regions = crop_boxes(keypoints.boxes[index], shape)
    points = keypoints.keypoints[index].copy()
    points[..., :2] = to_crop(points[..., :2], regions, shape)
    out = np.zeros((len(index), *shape, *(() if channels == 1 else (3,))), np.uint8)
    by_image = {}
    for n, i in enumerate(index):
        by_image.setdefault(int(keypoints.image_ids[i]), []).append(n)
    for image_id, members in by_image.items():  # each image decoded once, however many instances it holds
        with Image.open(keypoints.root / keypoints.images[image_id][0]) as image:
            image = data.in_channels(image, channels)
            for n in members:
                out[n] = np.asarray(image.transform((shape[1], shape[0]), Image.Transform.EXTENT,
                                                    tuple(regions[n]), Image.Resampling.BILINEAR))
    if flip is not None and np.any(flip):
        flip = np.asarray(flip, bool)
        out[flip], points[flip] = mirror(out[flip], points[flip], keypoints.names)
    return out, points, regions


def mirror(images, points, names):
    """Crops flipped left to right, and their keypoints: mirrored, each left/right pair swapped (``flip_pairs``).

    Args:
        images: ``(N, H, W[, C])`` crops.
        points: ``(N, K, 3)`` ``[x, y, v]`` in crop coordinates.
        names: the K keypoint names.

    Returns:
        ``(images, points)``, flipped; new arrays.
    """
    mirrored = points[:, flip_pairs(names)].copy()
    mirrored[..., 0] = images.shape[2] - mirrored[..., 0]
    return images[:, :, ::-1].copy(), mirrored


def heatmaps(points, shape, sigma) -> np.ndarray:
    """One Gaussian heatmap per keypoint; an unlabelled keypoint's is filled with ``UNLABELLED``.

    Args:
        points: ``(N, K, 3)`` ``[x, y, v]`` in crop coordinates (a pixel's centre is at +0.5).
        shape: ``(H, W)``.
        sigma: the Gaussian's std, px.

    Returns:
        ``(N, H, W, K)`` float32: peak 1 at a labelled keypoint (0 where it is far or outside
        the crop), ``UNLABELLED`` everywhere for a keypoint with ``v = 0``.
    """
    rows = np.arange(shape[0]) + 0.5
    cols = np.arange(shape[1]) + 0.5
    dy = (rows[None, :, None] - points[:, None, :, 1]) ** 2  # (N, H, K)
    dx = (cols[None, :, None] - points[:, None, :, 0]) ** 2  # (N, W, K)
    maps = np.exp(-(dy[:, :, None, :] + dx[:, None, :, :]) / (2 * sigma**2)).astype(np.float32)
    maps[np.broadcast_to((points[:, None, None, :, 2] == 0), maps.shape)] = UNLABELLED
    return maps


def decode(maps) -> tuple[np.ndarray, np.ndarray]:
    """Each heatmap's keypoint: its maximum, a quarter pixel towards the higher neighbour on each axis.

    Args:
        maps: ``(N, H, W, K)`` heatmaps (probabilities or logits).

    Returns:
        ``(points, peaks)``: ``(N, K, 2)`` float64 ``[x, y]`` in crop coordinates, and
        ``(N, K)`` the heatmaps' maxima.
    """
    n, h, w, k = maps.shape
    flat = maps.transpose(0, 3, 1, 2).reshape(n, k, h * w)
    best = flat.argmax(-1)
    peaks = np.take_along_axis(flat, best[..., None], -1)[..., 0]
    y, x = np.divmod(best, w)
    grid = maps.transpose(0, 3, 1, 2)
    ni, ki = np.indices((n, k))

    def towards(values_after, values_before):
        return 0.25 * np.sign(values_after - values_before)

    right = grid[ni, ki, y, np.minimum(x + 1, w - 1)]
    left = grid[ni, ki, y, np.maximum(x - 1, 0)]
    down = grid[ni, ki, np.minimum(y + 1, h - 1), x]
    up = grid[ni, ki, np.maximum(y - 1, 0), x]
    points = np.stack([x + 0.5 + towards(right, left), y + 0.5 + towards(down, up)], -1)
    return points.astype(np.float64), peaks.astype(np.float64)


# ----------------------------------------------------------------------------- scores
def results(keypoints, points, confidences) -> list:
    """Predictions in COCO's keypoint results format: one dict per instance.

    Args:
        keypoints: the scored ``Keypoints`` (its instances in order).
        points: ``(N, K, 2)`` predicted keypoints in image coordinates.
        confidences: ``(N, K)`` each keypoint's confidence in [0, 1].

    Returns:
        ``[{"image_id", "category_id", "keypoints": [x, y, c, ...], "score"}]``: the instance's
        score is the mean confidence of its keypoints, as top-down pose estimators report it.
    """
    out = []
    for image_id, p, c in zip(keypoints.image_ids, points, confidences, strict=True):
        out.append({"image_id": int(image_id), "category_id": keypoints.category_id,
                    "keypoints": [round(float(v), 3) for v in np.concatenate([p, c[:, None]], 1).reshape(-1)],
                    "score": round(float(c.mean()), 5)})
    return out


def oks_ap(keypoints, predictions, sigmas=None) -> dict:
    """OKS AP of ``predictions`` (``results`` format) on ``keypoints``' instances, by ``pycocotools``' COCOeval.

    Returns:
        ``{"ap", "ap50", "ap75"}``: COCO's keypoint AP over OKS thresholds 0.50:0.05:0.95, at 0.50 and at 0.75.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it goes
        truth = COCO()
        truth.dataset = keypoints.ground_truth()
        truth.createIndex()
        found = truth.loadRes(copy.deepcopy(predictions)) if predictions else COCO()
        evaluation = COCOeval(truth, found, iouType="keypoints")
        evaluation.params.kpt_oks_sigmas = oks_sigmas(keypoints.names, sigmas)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = [max(float(value), 0.0) for value in evaluation.stats[:3]]  # COCOeval gives -1 where nothing matched
    return {"ap": stats[0], "ap50": stats[1], "ap75": stats[2]}


def pck(keypoints, points, threshold=PCK_THRESHOLD) -> dict:
    """PCK: the share of labelled keypoints predicted within ``threshold`` of their box's longer side.

    Args:
        keypoints: the scored ``Keypoints``.
        points: ``(N, K, 2)`` predicted keypoints in image coordinates.

    Returns:
        ``{"pck": overall, "pck_per_keypoint": {name: share, or None where none is labelled}}``.
    """
    truth = keypoints.keypoints
    labelled = truth[..., 2] > 0
    size = keypoints.boxes[:, 2:].max(1)
    correct = np.linalg.norm(points - truth[..., :2], axis=-1) <= threshold * size[:, None]
    per = {name: (float(correct[labelled[:, i], i].mean()) if labelled[:, i].any() else None)
           for i, name in enumerate(keypoints.names)}
    return {"pck": float(correct[labelled].mean()), "pck_per_keypoint": per}


def score(keypoints, points, confidences, sigmas=None) -> dict:
    """Every score of predictions on ``keypoints``: OKS AP, AP50, AP75 and PCK@0.1 (``oks_ap``, ``pck``)."""
    return {**oks_ap(keypoints, results(keypoints, points, confidences), sigmas), **pck(keypoints, points)}
