"""utils: grids, pieces, shuffles, heatmaps, decoding, reassembly, metrics, data, plots."""

import gzip
import os
import pathlib
import sys
import types
import warnings

import numpy as np
import pytest
from conftest import ALL_GRIDS, random_images

import utils

IMAGE_SIZES = [(28, 28), (30, 30), (13, 17)]  # 13x17: no grid above 1 divides both sides


# ------------------------------------------------------------------------------- grids
@pytest.mark.parametrize(
    "grid, expected",
    [(3, (3, 3)), ((2, 5), (2, 5)), ([4, 1], (4, 1)), ("4", (4, 4)), ("3x5", (3, 5)), (np.int64(2), (2, 2))],
)
def test_parse_grid_accepts_ints_pairs_and_strings(grid, expected):
    assert utils.parse_grid(grid) == expected


@pytest.mark.parametrize("grid", [0, -2, 2.5, (2,), (2, 0), (2, 2.0), "two", "2x", True, None])
def test_parse_grid_rejects_bad_grids_naming_them(grid):
    with pytest.raises(ValueError, match="grid"):
        utils.parse_grid(grid)


def test_grid_larger_than_image_is_an_error():
    with pytest.raises(ValueError, match="30x30 is larger than the 28x28 image"):
        utils.check_grid(30, (28, 28))
    with pytest.raises(ValueError, match="larger"):
        utils.split_pieces(np.zeros((1, 4, 9)), (5, 2))


@pytest.mark.parametrize(
    "size, grid, padded, piece",
    [((28, 28), 2, (28, 28), (14, 14)), ((28, 28), 3, (30, 30), (10, 10)), ((28, 28), 5, (30, 30), (6, 6)),
     ((28, 28), 6, (30, 30), (5, 5)), ((28, 28), 7, (28, 28), (4, 4)), ((13, 17), (2, 3), (14, 18), (7, 6))],
)
def test_padding_rule_rounds_sides_up_to_the_grid(size, grid, padded, piece):
    assert utils.padded_shape(size, grid) == padded
    assert utils.piece_shape(size, grid) == piece


def test_padding_adds_zeros_at_bottom_and_right_only():
    images = random_images(2, 28, 28)
    padded = utils.pad_to_grid(images, 3)
    assert padded.shape == (2, 30, 30)
    np.testing.assert_array_equal(padded[:, :28, :28], images)
    assert not padded[:, 28:, :].any() and not padded[:, :, 28:].any()


# ------------------------------------------------------------------------------ pieces
@pytest.mark.parametrize("grid", ALL_GRIDS)
@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize("channels", [None, 3])
def test_split_and_join_are_inverses(grid, size, channels):
    images = random_images(3, *size, channels=channels)
    pieces = utils.split_pieces(images, grid)
    rows, cols = utils.parse_grid(grid)
    assert pieces.shape[:4] == (3, rows * cols, *utils.piece_shape(size, grid))
    np.testing.assert_array_equal(utils.join_pieces(pieces, grid), utils.pad_to_grid(images, grid))
    np.testing.assert_array_equal(utils.split_pieces(utils.join_pieces(pieces, grid), grid), pieces)


def test_pieces_are_numbered_row_major():
    image = np.arange(4 * 6).reshape(1, 4, 6)
    pieces = utils.split_pieces(image, (2, 3))  # 2x2-pixel pieces
    np.testing.assert_array_equal(pieces[0, 1], [[2, 3], [8, 9]])  # row 0, col 1
    np.testing.assert_array_equal(pieces[0, 3], [[12, 13], [18, 19]])  # row 1, col 0


@pytest.mark.parametrize("grid", ALL_GRIDS)
@pytest.mark.parametrize("size", IMAGE_SIZES)
def test_shuffle_then_reassemble_with_the_true_permutation_restores_images(grid, size):
    images = random_images(5, *size)
    shuffled, permutation = utils.shuffle_pieces(images, grid, rng=1)
    k = np.prod(utils.parse_grid(grid))
    assert shuffled.dtype == images.dtype and permutation.shape == (5, k)
    np.testing.assert_array_equal(np.sort(permutation, axis=1), np.tile(np.arange(k), (5, 1)))
    np.testing.assert_array_equal(utils.reassemble(shuffled, permutation, grid), utils.pad_to_grid(images, grid))


def test_slot_s_holds_the_piece_the_permutation_names():
    images = random_images(4, 28, 28)
    shuffled, permutation = utils.shuffle_pieces(images, 4, rng=np.random.default_rng(3))
    pieces, slots = utils.split_pieces(images, 4), utils.split_pieces(shuffled, 4)
    for n in range(4):
        for s in range(16):
            np.testing.assert_array_equal(slots[n, s], pieces[n, permutation[n, s]])


def test_apply_permutation_and_reassemble_are_inverses():
    images = random_images(3, 13, 17)
    permutation = np.array([[3, 1, 0, 2, 5, 4], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]])
    shuffled = utils.apply_permutation(images, permutation, (2, 3))
    np.testing.assert_array_equal(utils.reassemble(shuffled, permutation, (2, 3)), utils.pad_to_grid(images, (2, 3)))
    with pytest.raises(ValueError, match="3 images but 2 permutations"):
        utils.apply_permutation(images, permutation[:2], (2, 3))
    with pytest.raises(ValueError, match="3 images but 2 permutations"):
        utils.reassemble(shuffled, permutation[:2], (2, 3))


def test_shuffles_repeat_with_a_seed_and_differ_without():
    images = random_images(6, 28, 28)
    first, second = utils.shuffle_pieces(images, 3, 7), utils.shuffle_pieces(images, 3, np.random.default_rng(7))
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[1], utils.shuffle_pieces(images, 3, 8)[1])


def test_reassemble_leaves_positions_no_slot_names_blank():
    images = random_images(1, 4, 4)
    permutation = np.array([[0, -1, 2, 1]])  # slot 1's piece left out: position 3 stays blank
    out = utils.split_pieces(utils.reassemble(images, permutation, 2), 2)
    pieces = utils.split_pieces(images, 2)
    np.testing.assert_array_equal(out[0, 1], pieces[0, 3])
    assert not out[0, 3].any()


@pytest.mark.parametrize(
    "permutation, message",
    [([[0, 1, 2]], r"shape \(N, 4\)"), ([[0, 1, 1, 2]], "uses a piece twice"), ([[0, 1, 2, 4]], "must lie in"),
     ([[0.0, 1.0, 2.0, 3.0]], "integers")],
)
def test_bad_permutations_are_rejected(permutation, message):
    with pytest.raises(ValueError, match=message):
        utils.reassemble(np.zeros((1, 28, 28), np.uint8), permutation, 2)


@pytest.mark.parametrize("shape", [(28, 28), (2, 28, 28, 1, 1)])
def test_images_of_the_wrong_rank_are_rejected(shape):
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        utils.shuffle_pieces(np.zeros(shape), 2)


# ---------------------------------------------------------------------------- heatmaps
@pytest.mark.parametrize("grid", ALL_GRIDS)
@pytest.mark.parametrize("size", [(28, 28), (13, 17)])
def test_heatmaps_peak_inside_the_slot_that_holds_each_piece(grid, size):
    rows, cols = utils.parse_grid(grid)
    images = random_images(3, *size)
    _, permutation = utils.shuffle_pieces(images, grid, 2)
    heatmaps = utils.make_heatmaps(permutation, grid, size)
    height, width = utils.padded_shape(size, grid)
    assert heatmaps.shape == (3, height, width, rows * cols) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1
    piece_h, piece_w = height // rows, width // cols
    for n in range(3):
        for s, k in enumerate(permutation[n]):
            y, x = np.unravel_index(heatmaps[n, :, :, k].argmax(), (height, width))
            assert (y // piece_h, x // piece_w) == (s // cols, s % cols)


def test_heatmap_is_a_gaussian_of_the_given_sigma():
    heatmaps = utils.make_heatmaps([[1, 0]], (1, 2), (5, 10), sigma=1.5)  # 5x5 pieces
    # Piece 0 sits in slot 1, centred at pixel (2, 7): peak 1 there, exp(-2) two sigmas away.
    np.testing.assert_allclose(heatmaps[0, 2, 7, 0], 1.0)
    np.testing.assert_allclose(heatmaps[0, 2, 4, 0], np.exp(-2.0), rtol=1e-6)
    np.testing.assert_allclose(heatmaps[0, 2, 2, 1], 1.0)  # piece 1 in slot 0
    assert utils.default_sigma((28, 28), 2) == 3.5


@pytest.mark.parametrize("sigma", [0, -1.0])
def test_heatmaps_need_a_positive_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        utils.make_heatmaps([[0, 1, 2, 3]], 2, (28, 28), sigma=sigma)


# ---------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("grid", ALL_GRIDS)
@pytest.mark.parametrize("method", utils.DECODE_METHODS)
def test_decoding_true_heatmaps_gives_the_true_permutation(grid, method):
    images = random_images(16, 13, 17)
    _, permutation = utils.shuffle_pieces(images, grid, 4)
    heatmaps = utils.make_heatmaps(permutation, grid, (13, 17))
    np.testing.assert_array_equal(utils.decode_heatmaps(heatmaps, grid, method), permutation)


def test_hungarian_repairs_a_piece_that_argmax_places_twice():
    true = utils.make_heatmaps([[0, 1, 2, 3]], 2, (28, 28))
    heatmaps = true.copy()
    # Channel 0 fires a little more over slot 1 (where piece 1 lies) than over its own slot.
    heatmaps[..., 0] = 0.95 * true[..., 1] + 0.9 * true[..., 0]
    argmax = utils.decode_heatmaps(heatmaps, 2, "argmax")
    assert -1 in argmax  # slot 0 unclaimed: no permutation
    np.testing.assert_array_equal(utils.decode_heatmaps(heatmaps, 2, "hungarian"), [[0, 1, 2, 3]])


def test_decoding_rejects_unknown_methods_and_shapes():
    heatmaps = np.zeros((1, 28, 28, 4), np.float32)
    with pytest.raises(ValueError, match="unknown decode method 'greedy'"):
        utils.decode_heatmaps(heatmaps, 2, "greedy")
    with pytest.raises(ValueError, match=r"\(N, H, W, 9\)"):
        utils.decode_heatmaps(heatmaps, 3, "hungarian")
    with pytest.raises(ValueError, match="padded size"):
        utils.decode_heatmaps(np.zeros((1, 28, 28, 9)), 3)


# ----------------------------------------------------------------------------- metrics
def test_metrics_of_a_perfect_solution_are_all_one():
    images = random_images(4, 28, 28)
    shuffled, permutation = utils.shuffle_pieces(images, 3, 0)
    assert utils.jigsaw_metrics(images, shuffled, permutation, permutation, 3) == {
        "exact": 1.0, "pieces": 1.0, "permutation": 1.0, "kendall_tau": 1.0,
    }


def test_swapping_two_identical_blank_pieces_still_counts_as_exact():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 14:, 14:] = 200  # only piece 3 has ink; pieces 0, 1, 2 are blank
    identity = np.array([[0, 1, 2, 3]])
    swapped = np.array([[1, 0, 2, 3]])  # blank pieces 0 and 1 exchanged
    metrics = utils.jigsaw_metrics(image, image, identity, swapped, 2)
    assert metrics["exact"] == 1.0 and metrics["pieces"] == 1.0
    assert metrics["permutation"] == 0.0 and metrics["kendall_tau"] == pytest.approx(4 / 6)


def test_swapping_two_distinct_pieces_costs_those_two_positions():
    images = random_images(2, 28, 28)
    identity = np.tile(np.arange(9), (2, 1))
    predicted = identity.copy()
    predicted[0, [2, 5]] = predicted[0, [5, 2]]
    scores = utils.jigsaw_scores(images, images, identity, predicted, 3)
    np.testing.assert_allclose(scores["exact"], [0, 1])
    np.testing.assert_allclose(scores["pieces"], [7 / 9, 1])
    np.testing.assert_allclose(scores["permutation"], [0, 1])


def test_kendall_tau_of_a_reversed_order_is_minus_one():
    np.testing.assert_allclose(utils.kendall_tau([[0, 1, 2, 3, 4]], [[4, 3, 2, 1, 0]]), [-1.0])
    np.testing.assert_allclose(utils.kendall_tau([[0]], [[0]]), [1.0])


# -------------------------------------------------------------------------------- data
def test_bundled_sample_is_real_mnist_shaped():
    (x_train, y_train), (x_test, y_test) = utils.load_mnist("sample")
    assert x_train.shape[1:] == (28, 28) and x_train.dtype == np.uint8 and len(x_train) >= 2000
    assert x_test.shape[1:] == (28, 28) and len(y_test) == len(x_test) >= 500
    assert set(np.unique(y_train)) == set(range(10))


def test_npz_and_idx_folders_load_the_same_digits(tmp_path, digits):
    labels = np.arange(8, dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=digits, y_train=labels, x_test=digits[:3], y_test=labels[:3])
    idx = tmp_path / "idx"
    idx.mkdir()
    files = [("train-images-idx3-ubyte", digits, True), ("train-labels-idx1-ubyte", labels, False),
             ("t10k-images-idx3-ubyte", digits[:3], False), ("t10k-labels-idx1-ubyte", labels[:3], True)]
    for name, array, gz in files:
        header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        data = header + array.tobytes()
        (idx / (name + ".gz")).write_bytes(gzip.compress(data)) if gz else (idx / name).write_bytes(data)
    for source in (tmp_path / "mnist.npz", str(idx)):
        (x_train, y_train), (x_test, y_test) = utils.load_mnist(source)
        np.testing.assert_array_equal(x_train, digits)
        np.testing.assert_array_equal(y_train, labels)
        np.testing.assert_array_equal(x_test, digits[:3])
        np.testing.assert_array_equal(y_test, labels[:3])


def test_bad_data_sources_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no MNIST data at"):
        utils.load_mnist(tmp_path / "missing.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable .npz"):
        utils.load_mnist(tmp_path / "corrupt.npz")
    np.savez(
        tmp_path / "flat.npz",
        x_train=np.zeros((5, 784), np.uint8),
        y_train=np.zeros(5),
        x_test=np.zeros((2, 28, 28), np.uint8),
        y_test=np.zeros(2),
    )
    with pytest.raises(ValueError, match=r"x_train .* must have shape \(N, H, W\)"):
        utils.load_mnist(tmp_path / "flat.npz")
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="lacks the array"):
        utils.load_mnist(tmp_path / "partial.npz")
    np.savez(
        tmp_path / "floats.npz",
        x_train=np.zeros((5, 28, 28)),
        y_train=np.zeros(5),
        x_test=np.zeros((2, 28, 28)),
        y_test=np.zeros(2),
    )
    with pytest.raises(ValueError, match="uint8"):
        utils.load_mnist(tmp_path / "floats.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        utils.load_mnist(tmp_path / "empty")


def test_offline_download_falls_back_to_the_sample_with_a_warning(monkeypatch):
    def load_data():
        raise OSError("Name or service not known")

    fake_keras = types.SimpleNamespace(datasets=types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=load_data)))
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    with pytest.warns(UserWarning, match="could not download MNIST.*--data"):
        (x_train, _), _ = utils.load_mnist()
    np.testing.assert_array_equal(x_train, utils.load_mnist("sample")[0][0])
    with pytest.warns(UserWarning, match="could not download MNIST"):
        _, origin = utils.load_mnist(return_origin=True)
    assert origin == "sample"  # a run records the digits it really used, not the download it asked for


def test_load_mnist_says_where_the_digits_came_from(tmp_path):
    (x_train, y_train), (x_test, y_test) = utils.load_mnist("sample")
    assert utils.load_mnist("sample", return_origin=True)[1] == "sample"
    path = tmp_path / "copy.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    splits, origin = utils.load_mnist(path, return_origin=True)
    assert origin == str(path)
    np.testing.assert_array_equal(splits[0][0], x_train)


def test_a_text_file_as_data_names_the_formats_not_allow_pickle(tmp_path):
    (tmp_path / "README.md").write_text("# not digits\n")
    with pytest.raises(ValueError, match="is not a readable .npz file") as err:
        utils.load_mnist(tmp_path / "README.md")
    assert "allow_pickle" not in str(err.value) and "IDX files" in str(err.value)


def test_digits_fingerprint_tells_sets_of_digits_apart(digits):
    fingerprint = utils.digits_fingerprint(digits)
    assert len(fingerprint) == 12 and fingerprint == utils.digits_fingerprint(digits.copy())
    changed = digits.copy()
    changed[3, 14, 14] ^= 1
    others = {utils.digits_fingerprint(d) for d in (changed, digits[::-1], digits[:-1], digits.reshape(8, 14, 56))}
    assert len(others) == 4 and fingerprint not in others


def test_train_val_split_is_disjoint_and_fixed_by_the_seed():
    train, val = utils.train_val_split(100, 20, seed=3)
    assert len(val) == 20 and len(train) == 80 and not set(train) & set(val)
    np.testing.assert_array_equal(val, utils.train_val_split(100, 20, seed=3)[1])
    with pytest.raises(ValueError, match="val_size"):
        utils.train_val_split(100, 100, seed=0)


# ------------------------------------------------------------------------------ output
def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(RuntimeError), utils.atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    utils.save_json({"exact": 1.0}, target)
    assert utils.load_json(target) == {"exact": 1.0}



def test_atomic_path_gives_the_permissions_a_plain_write_would(tmp_path):
    """Not the owner-only mode of its temporary file: a new file gets the umask's, a rewritten one keeps its own."""
    fresh, kept = tmp_path / "fresh.json", tmp_path / "kept.md"
    fresh.write_text("{}")
    plain = fresh.stat().st_mode
    fresh.unlink()
    utils.save_json({"exact": 1.0}, fresh)
    assert fresh.stat().st_mode == plain
    kept.write_text("old")
    kept.chmod(0o640)
    with utils.atomic_path(kept) as tmp:
        tmp.write_text("new")
    assert kept.read_text() == "new" and kept.stat().st_mode & 0o777 == 0o640

def test_plot_puzzles_writes_a_png_and_marks_wrong_pieces(tmp_path, digits):
    shuffled, permutation = utils.shuffle_pieces(digits[:3], 3, 0)
    heatmaps = utils.make_heatmaps(permutation, 3, (28, 28))
    colours = utils.heatmap_colours(heatmaps)
    assert colours.shape == (3, 30, 30, 3) and 0 <= colours.min() and colours.max() <= 1
    reassembled = utils.reassemble(shuffled, np.roll(permutation, 1, axis=1), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no display: must still work headless
        fig = utils.plot_puzzles(digits[:3], shuffled, 3, heatmaps, reassembled, path=tmp_path / "p.png", title="t")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 12 and any(ax.patches for ax in fig.axes)


def test_plot_history_draws_each_curve_and_writes_a_png(tmp_path):
    history = {"loss": [0.3, 0.1], "val_loss": [0.2, 0.1], "val_exact": [0.5, 0.9]}
    fig = utils.plot_history(history, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = {line.get_label(): list(line.get_ydata()) for ax in fig.axes for line in ax.get_lines()}
    assert drawn == history  # every curve, with its values, against epochs 1 and 2
    assert all(list(line.get_xdata()) == [1, 2] for ax in fig.axes for line in ax.get_lines())
    assert fig.axes[0].get_legend() is not None


def test_softmax_heatmaps_peak_at_one_where_the_logits_peak():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(2, 28, 28, 4)).astype(np.float32)
    maps = utils.softmax_heatmaps(logits)
    assert maps.shape == logits.shape and maps.dtype == np.float32
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1.0)
    assert (maps > 0).all()
    flat = logits.reshape(2, -1, 4)
    np.testing.assert_array_equal(maps.reshape(2, -1, 4).argmax(axis=1), flat.argmax(axis=1))
    with pytest.raises(ValueError, match="must be"):
        utils.softmax_heatmaps(logits[0])


@pytest.mark.parametrize("grid", [2, 3, (2, 5), 7])
def test_blank_margins_blank_every_pieces_border_and_keep_its_inside(grid):
    images = random_images(3, 28, 28)
    blanked = utils.blank_margins(images, grid, 1)
    padded = utils.pad_to_grid(images, grid)
    assert blanked.shape == padded.shape and blanked.dtype == np.uint8
    pieces, original = utils.split_pieces(blanked, grid), utils.split_pieces(padded, grid)
    assert not pieces[:, :, 0].any() and not pieces[:, :, -1].any()  # top and bottom rows of every piece
    assert not pieces[:, :, :, 0].any() and not pieces[:, :, :, -1].any()  # left and right columns
    np.testing.assert_array_equal(pieces[:, :, 1:-1, 1:-1], original[:, :, 1:-1, 1:-1])
    np.testing.assert_array_equal(utils.blank_margins(images, grid, 0), padded)


def test_blank_margins_refuse_a_gap_that_blanks_whole_pieces():
    images = random_images(1, 28, 28)
    utils.blank_margins(images, 4, 3)  # 7 px pieces keep their middle pixel
    with pytest.raises(ValueError, match=r"--gap .* less than the 7x7 px pieces, got 4"):
        utils.blank_margins(images, 4, 4)


def test_cpu_description_names_the_cpu_and_whether_it_has_avx512():
    description = utils.cpu_description()
    assert f"{os.cpu_count()} cores" in description
    if pathlib.Path("/proc/cpuinfo").is_file():
        assert description.endswith(("avx512f", "no avx512f"))


def test_grayscale_input_fills_every_channel_of_a_colour_network():
    images = random_images(2, 6, 6)
    x = utils.to_model_input(images, channels=3)
    assert x.shape == (2, 6, 6, 3) and (x[..., 0] == x[..., 2]).all() and x.max() <= 1.0
    assert utils.to_model_input(random_images(2, 6, 6, channels=3)).shape == (2, 6, 6, 3)
    with pytest.raises(ValueError, match="a 1-channel network cannot take 3-channel images"):
        utils.to_model_input(random_images(2, 6, 6, channels=3), channels=1)


@pytest.mark.parametrize("blue, exact, pieces", [(9, 0.0, 0.5), (0, 1.0, 1.0)])
def test_exact_and_pieces_ask_for_every_channel_of_a_colour_piece(blue, exact, pieces):
    """The top two pieces alike in red and green: swapped, they are right only if blue is alike too."""
    image = np.zeros((1, 4, 4, 3), np.uint8)
    image[0, :, :, 0] = 5
    image[0, :2, 2:, 2] = blue  # the top-right piece differs from the top-left one in blue alone (or not at all)
    image[0, 2:, :, 1] = [[1, 2, 3, 4]]  # the bottom pieces differ from everything
    identity = np.array([[0, 1, 2, 3]])
    swapped = np.array([[1, 0, 2, 3]])
    scores = utils.jigsaw_metrics(image, image, identity, swapped, 2)
    assert (scores["exact"], scores["pieces"]) == (exact, pieces)
