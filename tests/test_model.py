"""model_utils and training: the U-Net's shapes, saving and loading, the training batches, scoring."""

import keras
import numpy as np
import pytest
from conftest import random_images

import borders
import model_utils
import training
import utils

# Every grid at the default depth on a size no grid divides runs in the fast subset; the rest is marked slow.
UNET_SHAPES = [pytest.param(grid, size, depth, marks=() if (depth, size) == (2, (13, 17)) else pytest.mark.slow)
               for depth in (0, 2, 3) for size in ((28, 28), (13, 17)) for grid in (1, 2, 3, 4, 7, (2, 5))]


@pytest.mark.parametrize("grid, size, depth", UNET_SHAPES)
def test_unet_gives_one_heatmap_per_piece_at_the_puzzle_size(grid, size, depth):
    height, width = utils.padded_shape(size, grid)
    k = int(np.prod(utils.parse_grid(grid)))
    model = model_utils.build_unet((height, width, 1), k, filters=4, depth=depth)
    out = model(np.zeros((2, height, width, 1), np.float32))
    assert tuple(out.shape) == (2, height, width, k)
    assert out.dtype == "float32"


def test_default_unet_is_the_original_port_network():
    model = model_utils.build_unet((28, 28, 1), 4)
    filters = [
        layer.filters
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.name.endswith("conv1")
    ]
    assert filters == [16, 32, 64, 32, 16]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_shape=(28, 28), num_outputs=4), "input_shape"),
        (dict(input_shape=(28, 28, 1), num_outputs=0), "num_outputs"),
        (dict(input_shape=(28, 28, 1), num_outputs=4, depth=-1), "depth"),
        (dict(input_shape=(28, 28, 1), num_outputs=4, filters=0), "filters"),
    ],
)
def test_unet_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model_utils.build_unet(**kwargs)


def test_saved_model_loads_without_custom_objects_and_gives_identical_outputs(tmp_path):
    model = model_utils.build_unet((30, 30, 1), 9, filters=4)
    rng = np.random.default_rng(0)
    # Random weights everywhere (the heatmap head starts at zero, which would make any two
    # models agree); positive, so batch-norm variances stay valid.
    model.set_weights([rng.uniform(0.5, 1.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.random((3, 30, 30, 1), dtype=np.float32)
    expected = model.predict_on_batch(x)
    assert np.abs(expected).max() > 0 and len(np.unique(expected)) > 100
    model.save(tmp_path / "unet.keras")
    loaded = keras.models.load_model(tmp_path / "unet.keras")
    np.testing.assert_array_equal(loaded.predict_on_batch(x), expected)


def test_puzzle_batches_are_fixed_by_seed_epoch_and_index():
    images = random_images(50, 28, 28)
    batches = training.PuzzleBatches(images, (3, 3), sigma=2.5, batch_size=16, seed=1)
    assert len(batches) == 4
    x, y = batches[3]
    assert x.shape == (2, 30, 30, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (2, 30, 30, 9) and y.dtype == np.float32
    first = batches[0]
    again = training.PuzzleBatches(images, (3, 3), 2.5, 16, seed=1)[0]
    np.testing.assert_array_equal(first[0], again[0])
    batches.epoch = 1  # a new epoch: fresh shuffles
    assert not np.array_equal(first[0], batches[0][0])
    # Every epoch still shows every digit once.
    seen = np.concatenate([batches[i][0] for i in range(len(batches))])
    assert seen.shape[0] == 50


def test_targets_decode_to_a_reassembly_of_the_batch_digits():
    images = random_images(20, 28, 28)
    x, y = training.PuzzleBatches(images, 4, sigma=1.75, batch_size=20, seed=0)[0]
    shuffled = np.round(x[..., 0] * 255).astype(np.uint8)
    reassembled = utils.reassemble(shuffled, utils.decode_heatmaps(y, 4), 4)
    # Each reassembled digit is one of the inputs (the batch order is shuffled).
    flat = {image.tobytes() for image in images}
    assert all(image.tobytes() in flat for image in reassembled)


def test_score_puzzles_of_a_perfect_model_is_perfect():
    images = random_images(10, 28, 28)
    shuffled, permutation = utils.shuffle_pieces(images, 2, 0)
    heatmaps = utils.make_heatmaps(permutation, 2, (28, 28), 3.5)

    class Oracle:  # stands in for the network: returns the true heatmaps in order
        calls = 0

        def predict_on_batch(self, x):
            start = Oracle.calls * 4
            Oracle.calls += 1
            return heatmaps[start : start + len(x)]

    loss, metrics, first = training.score_puzzles(
        Oracle(), images, shuffled, permutation, (2, 2), 3.5, batch_size=4, loss="mse"
    )
    assert loss == pytest.approx(0.0, abs=1e-12)
    assert (
        metrics["hungarian"]
        == metrics["argmax"]
        == {"exact": 1.0, "pieces": 1.0, "permutation": 1.0, "kendall_tau": 1.0}
    )
    assert first.shape == (4, 28, 28, 4)


@pytest.mark.parametrize("size", [(28, 28), (30, 30)])  # 30x30: padded inside, cropped back
def test_mixed_precision_unet_keeps_float32_heatmaps(size):
    model = model_utils.build_unet((*size, 1), 9, filters=4, dtype_policy="mixed_bfloat16")
    assert model.get_layer("down0_conv1").dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # no global state touched
    out = model.predict_on_batch(np.zeros((2, *size, 1), np.float32))
    assert out.shape == (2, *size, 9) and out.dtype == np.float32


# ------------------------------------------------------------------ piece transformer
@pytest.mark.parametrize("grid", [1, 2, 3, 4, 5, 7, (2, 5)])
def test_piece_transformer_gives_one_heatmap_per_piece_at_the_puzzle_size(grid):
    height, width = utils.padded_shape((28, 28), grid)
    k = int(np.prod(utils.parse_grid(grid)))
    model = model_utils.build_piece_transformer((height, width, 1), grid, dim=16, blocks=1, heads=2)
    out = model(np.zeros((2, height, width, 1), np.float32))
    assert tuple(out.shape) == (2, height, width, k)
    assert out.dtype == "float32"


# Every way a piece is read: (piece_filters, edge_bias).
NETWORK_VARIANTS = [(4, "learned"), (4, "none"), (4, "gradient"), (0, "learned"), (0, "mse"), (0, "none")]


# Grid 3 runs in the fast subset; 2x2 and 2x5 are marked slow.
@pytest.mark.parametrize("piece_filters, edge_bias", NETWORK_VARIANTS)
@pytest.mark.parametrize("grid", [pytest.param(2, marks=pytest.mark.slow), 3,
                                  pytest.param((2, 5), marks=pytest.mark.slow)])
def test_piece_transformer_follows_the_pieces_wherever_they_are_shuffled(grid, piece_filters, edge_bias):
    """Shuffling the slots shuffles the heatmaps' slots the same way: no slot is special, and
    nothing (the convolutions inside the pieces, the edge bias) reads across a piece's border."""
    height, width = utils.padded_shape((28, 28), grid)
    model = model_utils.build_piece_transformer((height, width, 1), grid, dim=16, blocks=2, heads=2,
                                                piece_filters=piece_filters, edge_bias=edge_bias)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, size=w.shape).astype(np.float32) for w in model.get_weights()])
    puzzles = random_images(3, height, width)
    k = int(np.prod(utils.parse_grid(grid)))
    moves = np.stack([rng.permutation(k) for _ in range(3)])
    moved = utils.apply_permutation(puzzles, moves, grid)
    scores = utils.slot_scores(model.predict_on_batch(utils.to_model_input(puzzles)), grid)  # (N, K, S)
    moved_scores = utils.slot_scores(model.predict_on_batch(utils.to_model_input(moved)), grid)
    assert np.abs(scores).max() > 0.1  # not the trivial all-zero output
    for i in range(3):
        # Slot s of the moved puzzle holds the piece of slot moves[i, s] of the original.
        np.testing.assert_allclose(moved_scores[i], scores[i][:, moves[i]], atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"input_shape": (28, 28, 1), "grid": 3}, "pad it first"),
        ({"input_shape": (28, 28, 1), "dim": 10, "heads": 4}, "must divide dim"),
        ({"input_shape": (28, 28, 1), "blocks": -1}, "blocks"),
        ({"input_shape": (28, 28, 1), "piece_filters": -1}, "piece_filters"),
        ({"input_shape": (28, 28, 1), "edge_bias": True}, "edge bias"),
    ],
)
def test_piece_transformer_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model_utils.build_piece_transformer(**{"grid": 2, **kwargs})


@pytest.mark.parametrize("piece_filters, edge_bias", NETWORK_VARIANTS)
def test_compiled_piece_transformer_saves_and_loads_with_identical_outputs(tmp_path, piece_filters, edge_bias):
    model = model_utils.build_piece_transformer((30, 30, 1), 3, dim=16, blocks=1, heads=2,
                                                piece_filters=piece_filters, edge_bias=edge_bias)
    model.compile(optimizer="adam", loss=model_utils.heatmap_cross_entropy)
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.3, size=w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.random((3, 30, 30, 1), dtype=np.float32)
    expected = model.predict_on_batch(x)
    model.save(tmp_path / "net.keras")
    loaded = keras.models.load_model(tmp_path / "net.keras")
    np.testing.assert_array_equal(loaded.predict_on_batch(x), expected)
    assert loaded.loss is model_utils.heatmap_cross_entropy


@pytest.mark.parametrize("grid", [2, 3, (2, 5)])
def test_edge_dissimilarity_compares_the_borders_that_would_touch(grid):
    rows, cols = utils.parse_grid(grid)
    height, width = utils.padded_shape((28, 28), grid)
    puzzles = np.random.default_rng(0).random((2, height, width, 1), dtype=np.float32)
    edges = np.asarray(model_utils.EdgeDissimilarity(grid)(puzzles))
    pieces = utils.split_pieces(puzzles, grid)[..., 0].astype(np.float64)  # (N, K, h, w)
    k = rows * cols
    assert edges.shape == (2, k, k, 4)
    for n, i, j in [(0, 0, 1), (1, k - 1, 0), (1, 1, 1)]:
        a, b = pieces[n, i], pieces[n, j]
        expected = [np.mean((a[:, -1] - b[:, 0]) ** 2), np.mean((a[-1] - b[0]) ** 2),  # j right of i, j below i
                    np.mean((a[:, 0] - b[:, -1]) ** 2), np.mean((a[0] - b[-1]) ** 2)]  # j left of i, j above i
        np.testing.assert_allclose(edges[n, i, j], np.log(1e-3 + np.array(expected)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grid", [2, 3, (2, 4)])
def test_gradient_edge_dissimilarity_is_the_border_solvers_cost_with_each_pieces_best_match(grid):
    rows, cols = utils.parse_grid(grid)
    height, width = utils.padded_shape((24, 24), grid)
    puzzles = np.random.default_rng(1).random((2, height, width, 3), dtype=np.float32)
    edges = np.asarray(model_utils.EdgeDissimilarity(grid, "gradient", relative=True)(puzzles), np.float64)
    k = rows * cols
    assert edges.shape == (2, k, k, 12)
    costs = borders.border_costs(puzzles, grid)
    per_line = {"right": (height // rows) * 3, "below": (width // cols) * 3}  # the solver sums, the layer means
    logs = np.log(1e-3 + np.stack([costs["right"] / per_line["right"], costs["below"] / per_line["below"]], -1))
    np.testing.assert_allclose(edges[..., :2], logs, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(edges[..., 2:4], logs.transpose(0, 2, 1, 3), rtol=1e-3, atol=1e-3)
    others = edges[..., :4] + np.eye(k)[None, :, :, None] * 1e9  # a piece is never its own neighbour
    np.testing.assert_allclose(edges[..., 4:8], edges[..., :4] - others.min(axis=2, keepdims=True), atol=1e-4)
    np.testing.assert_allclose(edges[..., 8:], edges[..., :4] - others.min(axis=1, keepdims=True), atol=1e-4)


@pytest.mark.parametrize("grid", [3, (2, 4)])
def test_best_matches_say_which_pieces_lie_on_the_image_s_border(grid):
    # A smooth image, unshuffled: every inner border continues, so each piece's true neighbour is its best
    # buddy; a piece on the image's top row has none above it, and so on for each side.
    rows, cols = utils.parse_grid(grid)
    y, x = np.mgrid[:rows * 12, :cols * 12] / 12.0
    image = np.stack([np.sin(1.3 * x + 0.4 * y), np.cos(0.7 * y - 0.9 * x), np.sin(x * y / 3)], -1)
    pairs = model_utils.EdgeDissimilarity(grid, "gradient", relative=True)(image[None].astype(np.float32))
    buddies = np.asarray(model_utils.BestMatches()(pairs))[0, :, :4]  # (K, 4): right, below, left, above
    row, col = np.divmod(np.arange(rows * cols), cols)
    on_side = np.stack([col == cols - 1, row == rows - 1, col == 0, row == 0], -1)
    assert (buddies[~on_side] < 1e-3).all() and (buddies[on_side] > 0.1).all()


# ------------------------------------------------------------------------- losses
@pytest.mark.parametrize("grid", [2, 3, 7])
def test_heatmap_cross_entropy_is_the_two_way_cross_entropy_of_the_docstring(grid):
    height, width = utils.padded_shape((28, 28), grid)
    k = int(np.prod(utils.parse_grid(grid)))
    rng = np.random.default_rng(0)
    permutation = np.stack([rng.permutation(k) for _ in range(4)])
    target = utils.make_heatmaps(permutation, grid, (height, width))
    logits = rng.normal(0, 2, size=target.shape).astype(np.float32)

    def log_softmax(x, axis):  # a float64 numpy reference
        x = x - x.max(axis=axis, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))

    flat_logits, flat_target = logits.reshape(4, -1, k).astype(np.float64), target.reshape(4, -1, k).astype(np.float64)
    where = flat_target / flat_target.sum(axis=1, keepdims=True)  # each heatmap over the pixels
    which = flat_target / np.maximum(flat_target.sum(axis=2, keepdims=True), 1e-12)  # each pixel over the heatmaps
    expected = -(where * log_softmax(flat_logits, 1)).sum(axis=1).mean(axis=1) - (
        which * log_softmax(flat_logits, 2)
    ).sum(axis=2).mean(axis=1)
    got = keras.ops.convert_to_numpy(model_utils.heatmap_cross_entropy(target, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert model_utils.heatmap_loss(logits, target, "softmax") == pytest.approx(expected.mean(), rel=1e-4)
    assert model_utils.heatmap_loss(logits, target, "mse") == pytest.approx(np.mean((logits - target) ** 2), rel=1e-6)


def test_heatmap_cross_entropy_prefers_the_true_heatmaps_to_a_flat_or_wrong_answer():
    grid = 3
    rng = np.random.default_rng(0)
    permutation = np.stack([rng.permutation(9) for _ in range(4)])
    target = utils.make_heatmaps(permutation, grid, (30, 30))
    wrong = utils.make_heatmaps(np.roll(permutation, 1, axis=1), grid, (30, 30))

    def loss(logits):
        return float(np.mean(keras.ops.convert_to_numpy(model_utils.heatmap_cross_entropy(target, logits))))

    right, flat, swapped = loss(10 * target), loss(np.zeros_like(target)), loss(10 * wrong)
    assert right < flat < swapped


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        model_utils.heatmap_loss(np.zeros((1, 4, 4, 4)), np.zeros((1, 4, 4, 4)), "l1")


@pytest.mark.parametrize("grid", [2, 3, (2, 5)])
def test_pieces_layer_cuts_the_pieces_slot_by_slot(grid):
    height, width = utils.padded_shape((28, 28), grid)
    puzzles = np.random.default_rng(0).random((2, height, width, 1), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(model_utils.Pieces(grid)(puzzles)), utils.split_pieces(puzzles, grid))


def test_border_compatibility_scores_each_direction_from_the_touching_borders():
    rng = np.random.default_rng(0)
    pieces = rng.random((2, 5, 3, 4, 2), dtype=np.float32)  # (N, K, h, w, C)
    layer = model_utils.BorderCompatibility(key_dim=8)
    scores = np.asarray(layer(pieces))
    assert scores.shape == (2, 5, 5, 4)

    def key(side, strip):  # (K, length, C) -> (K, key_dim), as the layer's Dense does
        kernel, bias = layer.keys[side].get_weights()
        return strip.reshape(len(strip), -1) @ kernel + bias

    n = 1
    right, left = key("right", pieces[n, :, :, -1]), key("left", pieces[n, :, :, 0])
    bottom, top = key("bottom", pieces[n, :, -1]), key("top", pieces[n, :, 0])
    to_right, below = right @ left.T / np.sqrt(8), bottom @ top.T / np.sqrt(8)
    np.testing.assert_allclose(scores[n, ..., 0], to_right, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores[n, ..., 1], below, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores[n, ..., 2], to_right.T, rtol=1e-4, atol=1e-5)  # j left of i: i right of j
    np.testing.assert_allclose(scores[n, ..., 3], below.T, rtol=1e-4, atol=1e-5)
    # Only the outermost strips count: changing a piece's inside changes nothing.
    inside = pieces.copy()
    inside[:, :, 1:-1, 1:-1] = 0
    np.testing.assert_allclose(np.asarray(layer(inside)), scores, rtol=1e-5, atol=1e-6)


def test_piece_convolutions_never_read_a_neighbouring_piece():
    model = model_utils.build_piece_transformer((28, 28, 1), 2, dim=16, blocks=0, heads=2, piece_filters=4,
                                                edge_bias="none")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, size=w.shape).astype(np.float32) for w in model.get_weights()])
    tokens = keras.Model(model.input, model.get_layer("pieces").output)
    puzzles = rng.random((1, 28, 28, 1), dtype=np.float32)
    changed = puzzles.copy()
    changed[0, :14, :14] = rng.random((14, 14, 1))  # slot 0 only
    before, after = (np.asarray(tokens(x))[0] for x in (puzzles, changed))
    assert not np.allclose(before[0], after[0])
    np.testing.assert_array_equal(before[1:], after[1:])


def test_biased_self_attention_adds_its_bias_to_every_heads_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    bias = rng.normal(size=(2, 5, 5, 2)).astype(np.float32)
    layer = model_utils.BiasedSelfAttention(heads=2, key_dim=3)
    out = np.asarray(layer(x, bias))
    (wq, bq), (wk, bk), (wv, bv) = (getattr(layer, n).get_weights() for n in ("query", "key", "value"))
    wo, bo = layer.project.get_weights()
    q, k, v = (np.einsum("nkc,chd->nkhd", x, w) + b for w, b in ((wq, bq), (wk, bk), (wv, bv)))
    logits = np.einsum("nihd,njhd->nhij", q, k) / np.sqrt(3) + bias.transpose(0, 3, 1, 2)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    expected = np.einsum("nihd,hdc->nic", np.einsum("nhij,njhd->nihd", weights, v), wo) + bo
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ["transformer", "unet"])
@pytest.mark.parametrize("pretext, outputs", [("jigsaw", 9), ("denoise", 3)])
def test_both_networks_take_the_run_s_channels(arch, pretext, outputs):
    import run_folder

    config = {**run_folder.DEFAULTS, "arch": arch, "pretext": pretext, "channels": 3, "grid": [3, 3],
              "puzzle_shape": [24, 24], "num_pieces": 9, "dim": 16, "blocks": 1, "heads": 2}
    model = model_utils.build_network(config)
    assert model.input_shape == (None, 24, 24, 3) and model.output_shape == (None, 24, 24, outputs)
    x = utils.to_model_input(random_images(2, 24, 24, channels=3))
    assert model.predict_on_batch(x).shape == (2, 24, 24, outputs)


def test_puzzle_batches_decode_image_files_as_they_would_read_an_array(tmp_path):
    """A folder streamed through PuzzleBatches (with its pieces' margins blanked) gives the array's batches."""
    from PIL import Image

    import data

    images = random_images(12, 24, 24, channels=3)
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i:02d}.png")  # lossless: the same pixels come back
    files = data.open_images(tmp_path, image_size=24, grid=3).train  # 11 of the 12: one is the test image
    in_memory = files.load()
    streamed = training.PuzzleBatches(files, (3, 3), 2.0, batch_size=4, seed=5, gap=1, workers=2)
    arrays = training.PuzzleBatches(in_memory, (3, 3), 2.0, batch_size=4, seed=5, gap=1)
    for i in range(len(arrays)):
        for a, b in zip(streamed[i], arrays[i], strict=True):
            np.testing.assert_array_equal(a, b)
    x, y = arrays[0]
    assert x.shape == (4, 24, 24, 3) and y.shape == (4, 24, 24, 9)
    assert (x[:, 0, :, :] == 0).all()  # the top row of every piece in the first row is blanked


@pytest.mark.parametrize("parts", [2, 3])
def test_the_parts_of_a_batch_are_the_batch(parts):
    """What each multi-worker replica makes (PuzzleBatches.share) is its slice of what one process makes."""
    images = random_images(40, 12, 12, channels=3)
    batches = training.PuzzleBatches(images, (2, 2), 1.5, batch_size=16, seed=3)
    batches.epoch = 1
    for index in range(len(batches)):
        x, y = batches[index]
        for part in range(parts):
            px, py = batches.share(1, index, part, parts)
            np.testing.assert_array_equal(px, x[part::parts])
            np.testing.assert_array_equal(py, y[part::parts])
