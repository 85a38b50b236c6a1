"""Articulated figures: a generated pose set in COCO's person-keypoints format, to try transfer.py on.

    python -m sample.figures --out figures/train --num 2000 --seed 0     # OUT/keypoints.json, OUT/images/*.jpg
    python -m sample.figures --out figures/test --num 500 --seed 1
    python -m sample.figures --picture docs/figures.png                 # a few images, keypoints drawn

No real pose set can be downloaded on the machines this project is measured on, so this
generator makes the closest thing to person crops it can: 2-D human-like figures with COCO's
17 named keypoints (``coco.COCO_KEYPOINTS``), drawn over cluttered backgrounds. Everything is a
pure function of ``--seed``: the same seed writes the same files.

A figure is a skeleton in a front view (its left side on the image's right, as a person facing
the camera): a torso, a neck and a round head with eyes, ears and nose, upper and lower arms
and legs. Its height is 40 to 95 % of the image's; limb lengths are a human's proportions of
the height, each scaled by 0.85 to 1.15; joint angles are drawn within human ranges (the torso
leans up to 35 degrees; a shoulder swings -20 to 200 degrees from hanging, an elbow bends 0 to
150 degrees, a hip -40 to 110, a knee 0 to 140, each towards its own side). Limbs are lines 3
to 10 % of the height thick, one colour per figure and a second for the head; its parts are
drawn far arm and leg first, then the torso, the near ones and the head, so a figure hides parts
of itself. One image in three holds a second figure, drawn over the first where they overlap.
A figure's centre may lie near an edge, so parts of it leave the frame.

Visibility, as COCO defines it: ``v = 2`` a keypoint in the image and not covered by a part
drawn later (the figure's own or the second figure's); ``v = 1`` in the image but covered;
``v = 0`` outside the image (not labelled). A figure's ``bbox`` is the box of its pixels in the
image; ``area`` their count.

Backgrounds: smooth colour noise (a random low-resolution field, upsampled) with random
stripes or checks, speckle noise, and 4 to 12 distractor strokes and blobs in the figures'
own range of thickness, so that a limb is not the only line in the image.
"""

import argparse
import json
import math
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import coco  # noqa: E402

SIZE = 96  # image side, px
# Lengths as shares of the figure's height (a standing adult's proportions, roughly).
PROPORTIONS = {"torso": 0.30, "shoulders": 0.23, "hips": 0.16, "neck": 0.05, "head": 0.065, "upper_arm": 0.17,
               "forearm": 0.15, "thigh": 0.24, "shin": 0.23}
# Joint angles, degrees, each towards the figure's own side: (low, high).
ANGLES = {"lean": (-35, 35), "shoulder": (-20, 200), "elbow": (0, 150), "hip": (-40, 110), "knee": (0, 140)}
K = {name: i for i, name in enumerate(coco.COCO_KEYPOINTS)}


def _unit(degrees):
    radians = math.radians(degrees)
    return np.array([math.sin(radians), math.cos(radians)])  # 0 degrees points down the image


def skeleton(rng, size):
    """One figure's 17 keypoints ``(17, 2)`` (image coordinates, may leave the image), its height and thickness."""
    height = rng.uniform(0.4, 0.95) * size
    length = {name: share * height * rng.uniform(0.85, 1.15) for name, share in PROPORTIONS.items()}
    pelvis = rng.uniform([-0.05 * size, 0.2 * size], [1.05 * size, 1.05 * size])
    lean = rng.uniform(*ANGLES["lean"])
    up = -_unit(lean)  # from the pelvis to the neck
    across = np.array([-up[1], up[0]])  # the figure's left, on the image's right when it faces the camera
    if across[0] < 0:
        across = -across
    neck = pelvis + up * length["torso"]
    points = np.zeros((17, 2))
    for side, sign in (("left", 1), ("right", -1)):
        shoulder = neck + sign * across * length["shoulders"] / 2
        hip = pelvis + sign * across * length["hips"] / 2
        # Angles are measured from hanging straight down the torso, turning outwards on each side.
        arm = lean + sign * rng.uniform(*ANGLES["shoulder"])
        elbow = shoulder + _unit(arm) * length["upper_arm"]
        wrist = elbow + _unit(arm + sign * rng.uniform(*ANGLES["elbow"])) * length["forearm"]
        leg = lean + sign * rng.uniform(*ANGLES["hip"]) * 0.5
        knee = hip + _unit(leg) * length["thigh"]
        ankle = knee + _unit(leg - sign * rng.uniform(*ANGLES["knee"]) * 0.6) * length["shin"]
        for part, point in (("shoulder", shoulder), ("hip", hip), ("elbow", elbow), ("wrist", wrist),
                            ("knee", knee), ("ankle", ankle)):
            points[K[f"{side}_{part}"]] = point
    head = neck + up * (length["neck"] + length["head"])
    turn = rng.uniform(-0.5, 0.5)  # the face turns a little: its features shift sideways
    r = length["head"]
    points[K["nose"]] = head + across * turn * r * 0.5 - up * r * 0.1
    for side, sign in (("left", 1), ("right", -1)):
        points[K[f"{side}_eye"]] = head + across * (sign * 0.4 + turn * 0.4) * r + up * r * 0.25
        points[K[f"{side}_ear"]] = head + across * (sign * 1.0 + turn * 0.2) * r
    thickness = max(2.0, rng.uniform(0.03, 0.10) * height)
    return points, head, r, thickness


# The order a figure's parts are drawn in: far limbs (chosen per figure), torso, near limbs, head.
LIMBS = {side: [(f"{side}_shoulder", f"{side}_elbow"), (f"{side}_elbow", f"{side}_wrist"),
                (f"{side}_hip", f"{side}_knee"), (f"{side}_knee", f"{side}_ankle")] for side in ("left", "right")}


PARTS = 4  # a figure is drawn in this many parts (far limbs, torso, near limbs, head)


def draw_figure(image, owner, first, rng, size):
    """Draws one figure on ``image`` (PIL RGB), writing each part's number into ``owner`` (PIL L).

    Parts are numbered ``first, first + 1, ...`` in drawing order, so where ``owner`` holds a
    later number than a keypoint's parts, and not one of them, a later part covers that keypoint.

    Returns:
        ``(points, parts)``: ``(17, 2)`` keypoints and, per keypoint, the set of numbers of the
        parts it belongs to (a shoulder to its arm and to the torso).
    """
    from PIL import ImageDraw

    points, head, r, thickness = skeleton(rng, size)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    skin = tuple(int(c) for c in rng.integers(0, 256, 3))
    pen, mask = ImageDraw.Draw(image), ImageDraw.Draw(owner)
    far, near = ("left", "right") if rng.random() < 0.5 else ("right", "left")
    parts = [set() for _ in range(17)]
    width = max(1, round(thickness))
    for number, (kind, side) in enumerate([("limbs", far), ("torso", None), ("limbs", near), ("head", None)],
                                          start=first):
        shapes = []  # (kind of shape, where, radius of a dot)
        if kind == "limbs":
            for a, b in LIMBS[side]:
                shapes.append(("line", [tuple(points[K[a]]), tuple(points[K[b]])], 0))
                parts[K[a]].add(number)
                parts[K[b]].add(number)
            shapes += [("dot", points[K[f"{side}_{joint}"]], thickness / 2) for joint in ("elbow", "knee")]
        elif kind == "torso":  # the shoulders and hips are its corners: it covers them
            corners = [points[K[n]] for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip")]
            shapes.append(("polygon", [tuple(c) for c in corners], 0))
            neck = (points[K["left_shoulder"]] + points[K["right_shoulder"]]) / 2
            shapes.append(("line", [tuple(neck), tuple(head)], 0))
            for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"):
                parts[K[n]].add(number)
                shapes.append(("dot", points[K[n]], thickness / 2))
        else:
            shapes.append(("dot", head, r * 1.15))
            for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
                parts[K[n]].add(number)
        fill = skin if kind == "head" else colour
        for shape, where, radius in shapes:
            for draw, value in ((pen, fill), (mask, number)):
                if shape == "line":
                    draw.line(where, fill=value, width=width)
                elif shape == "polygon":
                    draw.polygon(where, fill=value)
                else:
                    draw.ellipse([where[0] - radius, where[1] - radius, where[0] + radius, where[1] + radius],
                                 fill=value)
        if kind == "head":  # the face: dark eyes and nose, so they can be found
            for n, share in (("left_eye", 0.18), ("right_eye", 0.18), ("nose", 0.15)):
                x, y = points[K[n]]
                pen.ellipse([x - r * share, y - r * share, x + r * share, y + r * share], fill=(20, 20, 20))
    return points, parts


def background(rng, size):
    """A cluttered ``(size, size, 3)`` uint8 background: colour noise, a texture, distractor strokes."""
    from PIL import Image, ImageDraw

    cells = int(rng.integers(2, 7))
    field = rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
    image = np.asarray(Image.fromarray(field).resize((size, size), Image.Resampling.BICUBIC), np.float64)
    period = rng.uniform(4, 16)
    angle = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[:size, :size]
    wave = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
    if rng.random() < 0.5:  # checks instead of stripes
        wave = wave * np.sin((-xx * math.sin(angle) + yy * math.cos(angle)) * 2 * math.pi / period)
    image += rng.uniform(10, 40) * wave[..., None] + rng.normal(0, rng.uniform(3, 15), image.shape)
    image = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 13))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        width = int(rng.integers(2, max(3, size // 10)))
        if rng.random() < 0.7:  # a stroke of one to three segments
            at = rng.uniform(0, size, 2)
            path = [tuple(at)]
            for _ in range(int(rng.integers(1, 4))):
                at = at + rng.normal(0, size / 5, 2)
                path.append(tuple(at))
            pen.line(path, fill=colour, width=width)
        else:
            x, y = rng.uniform(0, size, 2)
            radius = rng.uniform(2, size / 8)
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return image


def make_image(seed, size=SIZE):
    """One image and its figures' annotations, a pure function of ``seed``.

    Returns:
        ``(image, figures)``: a PIL RGB image, and per figure a dict with ``keypoints`` ``(17, 3)``
        ``[x, y, v]`` (COCO's visibility; 0 and no coordinates outside the image), ``bbox``
        ``[x, y, w, h]`` of its pixels (None when none is in the image) and ``area``, their count.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    image = background(rng, size)
    owner = Image.new("L", (size, size), 0)
    drawn = [draw_figure(image, owner, 1 + PARTS * f, rng, size) for f in range(2 if rng.random() < 1 / 3 else 1)]
    owner = np.asarray(owner)
    figures = []
    for f, (points, parts) in enumerate(drawn):
        inside = (points >= 0).all(1) & (points < size).all(1)
        cells = np.clip(points.astype(int), 0, size - 1)
        on_top = owner[cells[:, 1], cells[:, 0]]
        # Covered: the part on top at the keypoint was drawn after its own parts and is none of them.
        covered = np.array([top > min(own) and top not in own for top, own in zip(on_top, parts, strict=True)])
        v = np.where(inside, np.where(covered, 1, 2), 0)
        ys, xs = np.nonzero((owner > PARTS * f) & (owner <= PARTS * (f + 1)))
        box = None if len(xs) == 0 else [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                                         float(ys.max() - ys.min() + 1)]
        keypoints = np.concatenate([np.where(inside[:, None], points, 0.0), v[:, None]], 1)
        figures.append({"keypoints": keypoints, "bbox": box, "area": float(len(xs))})
    return image, figures


def write(out, num, seed=0, size=SIZE):
    """Writes ``num`` images into ``out/images/`` and their figures into ``out/keypoints.json``.

    The file names the images ``images/NNNNNN.jpg``, relative to its own folder (``coco.load``'s
    default), so ``--annotations OUT/keypoints.json`` needs no ``--data``.

    Image ``i`` is ``make_image([seed, i])``: JPEG, quality 90. A figure with no pixel in
    the image is left out; one with pixels but no keypoint inside is kept, with
    ``num_keypoints`` 0, as COCO keeps such instances.

    Returns:
        The annotation file's path.
    """
    out = pathlib.Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(num):
        image, figures = make_image([seed, i], size)
        name = f"images/{i:06d}.jpg"  # relative to the annotation file's folder, where coco.load looks by default
        image.save(out / name, quality=90)
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        for figure in figures:
            if figure["bbox"] is None:
                continue
            points = figure["keypoints"]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                                "bbox": [round(v, 2) for v in figure["bbox"]], "area": figure["area"],
                                "keypoints": [round(float(v), 2) if j % 3 < 2 else int(v)
                                              for j, v in enumerate(points.reshape(-1))],
                                "num_keypoints": int((points[:, 2] > 0).sum())})
    dataset = {"info": {"description": f"articulated figures, python -m sample.figures --num {num} --seed {seed}"},
               "images": images, "annotations": annotations,
               "categories": [{"id": 1, "name": "person", "supercategory": "person",
                               "keypoints": list(coco.COCO_KEYPOINTS),
                               "skeleton": [list(pair) for pair in coco.COCO_SKELETON]}]}
    path = out / "keypoints.json"
    staging = path.with_suffix(".json.partial")
    staging.write_text(json.dumps(dataset))
    staging.replace(path)  # the annotation file lands whole, after its images
    return path


def picture(path, seed=0, count=8):
    """Draws ``count`` generated images with their keypoints (visible: filled, covered: hollow) and skeletons."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, count // 2, figsize=(2.2 * count // 2, 4.6))
    for i, ax in enumerate(axes.flat):
        image, figures = make_image([seed, i])
        ax.imshow(image)
        for figure in figures:
            points = figure["keypoints"]
            for a, b in coco.COCO_SKELETON:
                if points[a - 1, 2] > 0 and points[b - 1, 2] > 0:
                    ax.plot(points[[a - 1, b - 1], 0], points[[a - 1, b - 1], 1], "-", color="white", lw=0.8)
            for v, style in ((2, dict(color="yellow")), (1, dict(facecolor="none", edgecolor="yellow"))):
                shown = points[:, 2] == v
                ax.scatter(points[shown, 0], points[shown, 1], s=10, linewidths=0.8, **style)
        ax.set_axis_off()
    fig.suptitle("Articulated figures (python -m sample.figures): keypoints filled where visible, hollow where "
                 "covered", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write OUT/images/*.jpg and OUT/keypoints.json")
    parser.add_argument("--num", type=int, default=1000, help="images to write (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="the set's seed: the same seed writes the same set")
    parser.add_argument("--size", type=int, default=SIZE, help=f"image side in px (default {SIZE})")
    parser.add_argument("--picture", help="draw a few images with their keypoints into this PNG")
    args = parser.parse_args(argv)
    if not args.out and not args.picture:
        parser.error("give --out (a set to write) or --picture (a PNG to draw)")
    if args.num < 1 or args.size < 32:
        parser.error("--num must be at least 1 and --size at least 32 px")
    if args.out:
        path = write(args.out, args.num, args.seed, args.size)
        print(f"{args.num} images in {pathlib.Path(args.out) / 'images'}, their figures in {path}")
    if args.picture:
        picture(args.picture, args.seed)
        print(f"drawn: {args.picture}")


if __name__ == "__main__":
    main()
