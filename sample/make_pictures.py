"""Regenerates the README's pictures in sample/ with the project's own code.

    python -m sample.make_pictures      # puzzles.png, piece_transformer.png, unet.png and pose.png
    python -m bench.grids --data path/to/mnist.npz --only transformer-4x4
        # the reassembly pictures: runs/grids/transformer-NxN/reassembled.png

(Run from the repository root: ``-m`` puts it on the path, so the project's modules import.)

Digits come from the bundled sample (sample/mnist_sample.npz), test split.
"""

import os
import pathlib

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib.pyplot as plt
import numpy as np

import tasks
import utils

HERE = pathlib.Path(__file__).resolve().parent


def puzzles_picture(path, grids=(2, 3, 4), count=3, seed=0):
    """One row per grid: a digit, its shuffle and its heatmap label (true heatmaps)."""
    _, (x_test, _) = utils.load_mnist("sample")
    fig, axes = plt.subplots(len(grids), 3 * count, figsize=(1.3 * 3 * count, 1.45 * len(grids) + 0.3), squeeze=False)
    for row, grid in enumerate(grids):
        digits = x_test[row * count : (row + 1) * count]
        shuffled, permutation = utils.shuffle_pieces(digits, grid, seed)
        heatmaps = utils.heatmap_colours(utils.make_heatmaps(permutation, grid, digits.shape[1:]))
        for i in range(count):
            for j, (name, image) in enumerate(
                [("original", utils.pad_to_grid(digits, grid)[i]), ("shuffled", shuffled[i]), ("heatmaps", heatmaps[i])]
            ):
                ax = axes[row, 3 * i + j]
                ax.imshow(image, cmap="gray")
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(name, fontsize=8)
            axes[row, 3 * i].set_ylabel(f"{grid}x{grid}", fontsize=9)
    fig.suptitle("Shuffled digits and their heatmap labels (one hue per original position)", fontsize=9)
    fig.tight_layout()
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def unet_picture(path, input_shape=(28, 28, 1), num_outputs=4):
    """The default U-Net's blocks, drawn as a U, with each block's output shape."""
    from model_utils import build_unet

    model = build_unet(input_shape, num_outputs)
    shape = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    levels = sorted({int(name[len("down")]) for name in shape if name.startswith("down")})
    depth = len(levels)
    boxes = [(f"down{i}_relu2", i, i) for i in levels] + [("bottom_relu2", depth, depth)]
    boxes += [(f"up{i}_relu2", 2 * depth - i, i) for i in reversed(levels)]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for name, x, level in boxes:
        h, w, c = shape[name]
        ax.add_patch(plt.Rectangle((x - 0.4, -level - 0.3), 0.8, 0.6, fc="#dbe9f6", ec="#1f4e79"))
        label = name.split("_")[0].replace("down", "encoder ").replace("up", "decoder ")
        ax.text(x, -level + 0.08, label, ha="center", fontsize=8)
        ax.text(x, -level - 0.15, f"{h}x{w}x{c}", ha="center", fontsize=8, family="monospace")
    for (_, x0, l0), (_, x1, l1) in zip(boxes, boxes[1:], strict=False):
        ax.annotate("", (x1 - 0.4, -l1), (x0 + 0.4, -l0), arrowprops=dict(arrowstyle="->", color="gray"))
    for i in levels:  # skip connections
        ax.annotate(
            "",
            (2 * depth - i - 0.4, -i + 0.2),
            (i + 0.4, -i + 0.2),
            arrowprops=dict(arrowstyle="->", color="tab:orange", ls="--"),
        )
    ax.text(-0.9, 0, f"shuffled\n{input_shape[0]}x{input_shape[1]}x1", ha="center", va="center", fontsize=8)
    ax.text(
        2 * depth + 0.95,
        0,
        f"{num_outputs} heatmaps\n{input_shape[0]}x{input_shape[1]}x{num_outputs}",
        ha="center",
        va="center",
        fontsize=8,
    )
    ax.set_xlim(-1.5, 2 * depth + 1.6)
    ax.set_ylim(-depth - 0.6, 0.6)
    ax.axis("off")
    ax.set_title(
        f"U-Net ({model.count_params():,} parameters): blocks of two 3x3 conv + BN + ReLU, 2x2 max-pool down, "
        "2x2 transposed conv up,\nskip connections (dashed), 1x1 conv to one heatmap per piece",
        fontsize=8,
    )
    fig.tight_layout()
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def piece_transformer_picture(path, grid=3, seed=0):
    """The default network on one 3x3 puzzle: pieces -> vectors -> attention -> heatmaps."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    import model_utils

    _, (x_test, _) = utils.load_mnist("sample")
    digits = x_test[:1]
    shuffled, permutation = utils.shuffle_pieces(digits, grid, seed)
    heatmaps = utils.heatmap_colours(utils.make_heatmaps(permutation, grid, digits.shape[1:]))[0]
    size = shuffled.shape[1]
    params = model_utils.build_piece_transformer((size, size, 1), grid).count_params()
    k = grid * grid

    fig = plt.figure(figsize=(10, 3.2))
    left = fig.add_axes([0.01, 0.2, 0.19, 0.62])
    left.imshow(shuffled[0], cmap="gray")
    left.set_title("shuffled puzzle", fontsize=9)
    right = fig.add_axes([0.8, 0.2, 0.19, 0.62])
    right.imshow(heatmaps)
    right.set_title(f"{k} heatmaps (one colour each)", fontsize=9)
    for ax in (left, right):
        for line in range(1, grid):
            ax.axhline(line * size / grid - 0.5, color="tab:blue", lw=0.8)
            ax.axvline(line * size / grid - 0.5, color="tab:blue", lw=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
    mid = fig.add_axes([0.21, 0.0, 0.58, 0.92])
    mid.set_xlim(0, 10)
    mid.set_ylim(-2.8, k + 0.3)
    mid.axis("off")
    stages = [
        (0.9, "two 3x3 convs inside\neach piece, then one\nvector per piece"),
        (5.0, "attention between all pieces\n(4 transformer blocks, no position\nembedding), biased by border fits"),
        (9.1, "paint each slot"),
    ]
    for i in range(k):
        y = k - i - 0.5
        for x in (1.4, 8.6):
            mid.add_patch(Rectangle((x - 0.25, y - 0.3), 0.5, 0.6, color="tab:orange", alpha=0.8))
        mid.add_patch(FancyArrowPatch((1.7, y), (8.3, y), arrowstyle="-", color="lightgray", lw=0.8))
    mid.add_patch(Rectangle((3.3, 0.3), 3.4, k - 0.6, color="tab:blue", alpha=0.15))
    for x, label in stages:
        mid.text(x, -0.3, label, ha="center", va="top", fontsize=8)
    mid.text(5.0, k / 2, "self-attention\n+ MLP\n  x 4", ha="center", va="center", fontsize=9)
    fig.suptitle(
        f"Piece transformer ({params:,} parameters at 3x3): convolutions inside each piece, attention biased by "
        "learned border fits, a transposed conv back to the pixels",
        fontsize=8,
    )
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def pose_picture(path, count=10):
    """Digit pose's keypoints on test digits: the skeleton, its stroke ends and its junctions."""
    _, (x_test, _) = utils.load_mnist("sample")
    digits = x_test[:count]
    skeletons = tasks.skeletons(digits)
    keypoints = tasks.pose_keypoints(digits)
    fig, axes = plt.subplots(2, count, figsize=(1.3 * count, 3.0), squeeze=False)
    for i in range(count):
        axes[0, i].imshow(digits[i], cmap="gray")
        overlay = np.stack([digits[i] / 510] * 3, axis=-1)
        overlay[skeletons[i]] = (1.0, 1.0, 1.0)
        axes[1, i].imshow(overlay)
        for kind, marker, colour in (("end", "o", "tab:orange"), ("junction", "s", "tab:cyan")):
            points = keypoints[i][kind]
            axes[1, i].scatter(points[:, 1], points[:, 0], s=28, marker=marker, facecolors="none", edgecolors=colour,
                               linewidths=1.5, label=kind)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("digit")
    axes[1, 0].set_ylabel("skeleton")
    handles, _ = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, ["stroke end", "junction"], loc="lower center", ncol=2, frameon=False)
    fig.suptitle(f"Digit pose: stroke ends and junctions of the skeleton (ink >= {tasks.POSE_THRESHOLD}, "
                 f"spurs < {tasks.POSE_SPUR} px pruned)", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    with utils.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    puzzles_picture(HERE / "puzzles.png")
    piece_transformer_picture(HERE / "piece_transformer.png")
    unet_picture(HERE / "unet.png")
    pose_picture(HERE / "pose.png")
    print(f"wrote {HERE / 'puzzles.png'}, {HERE / 'piece_transformer.png'} and {HERE / 'unet.png'}")
