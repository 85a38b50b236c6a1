"""borders: the border solver, a jigsaw baseline that learns nothing."""

import numpy as np
import pytest
from conftest import random_images

import borders
import utils


def smooth_images(n, size=36, channels=3, seed=0):
    """Images of slow waves: every border continues into its true neighbour, ``(n, size, size, channels)`` uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    images = []
    for _ in range(n):
        a, b, c = rng.uniform(0.05, 0.3, 3)
        phase = rng.uniform(0, 6, 3)
        waves = [np.sin(a * x + phase[0]) * np.cos(b * y + phase[1]), np.sin(c * (x + y) + phase[2]),
                 np.cos(a * y - b * x)]
        images.append(np.stack([128 + 100 * waves[i % 3] for i in range(channels)], -1))
    return np.clip(np.stack(images), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("grid", [2, 3, (2, 3)])
def test_every_puzzle_of_a_smooth_image_is_solved_exactly(grid):
    images = smooth_images(12)
    shuffled, permutation = utils.shuffle_pieces(images, grid, rng=1)
    decoded = borders.solve(shuffled, grid)
    assert (decoded == permutation).all()


@pytest.mark.parametrize("grid", [2, 3, 4])
def test_a_solved_layout_costs_no_more_than_the_truth(grid):
    images = random_images(6, 24, 24, 3, seed=grid)  # noise: no layout is the obvious one
    shuffled, permutation = utils.shuffle_pieces(images, grid, rng=0)
    costs = borders.border_costs(shuffled, grid)
    decoded = borders.solve(shuffled, grid, beam=2000)
    for n in range(len(images)):
        one = {name: value[n] for name, value in costs.items()}
        found, truth = borders.layout_cost(one, np.stack([np.argsort(decoded[n]), np.argsort(permutation[n])]), grid)
        assert found <= truth + 1e-6
    assert all(sorted(row) == list(range(len(row))) for row in decoded.tolist())  # permutations


def test_swaps_never_raise_the_cost():
    shuffled, _ = utils.shuffle_pieces(random_images(1, 20, 20, 1), 4, rng=2)
    costs = {name: value[0] for name, value in borders.border_costs(shuffled, 4).items()}
    start = np.random.default_rng(0).permutation(16)
    better = borders.improve_by_swaps(costs, start, 4)
    assert borders.layout_cost(costs, np.stack([better, start]), 4).tolist()[0] <= borders.layout_cost(
        costs, start[None], 4)[0]
    assert sorted(better.tolist()) == list(range(16))


def test_identical_pieces_are_found_as_twins():
    pieces = np.zeros((1, 4, 2, 2), np.uint8)
    pieces[0, 2] = 7
    assert borders.twins(pieces).tolist() == [[0, 0, 2, 0]]


def test_the_frame_makes_a_digit_s_blank_corners_cheap_where_they_belong():
    (_, _), (x_test, _) = utils.load_mnist("sample")
    digits = x_test[:20]
    shuffled, permutation = utils.shuffle_pieces(digits, 2, rng=0)
    decoded = borders.solve(shuffled, 2, frame=True)
    assert utils.jigsaw_scores(digits, shuffled, permutation, decoded, 2)["exact"].mean() >= 0.9


@pytest.mark.parametrize(("kwargs", "message"), [({"beam": 0}, "at least one layout"),
                                                 ({"measure": "l1"}, "unknown border measure")])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        borders.solve(smooth_images(1), 2, **kwargs)


def test_pieces_too_small_to_have_a_gradient_are_refused():
    with pytest.raises(ValueError, match="at least 2x2 pixels"):
        borders.border_costs(random_images(1, 6, 6), 6)


# ------------------------------------------------------------------ layout decoding
def truth_logits(permutation, grid, shape, peak=30.0):
    """Heatmap logits that put each piece's whole softmax on its true slot: ``(N, H, W, K)``."""
    rows, cols = utils.parse_grid(grid)
    n, k = permutation.shape
    slot_hot = np.zeros((n, rows * cols, k))
    slot_hot[np.arange(n)[:, None], np.arange(k)[None], permutation] = peak  # slot s holds piece permutation[s]
    blocks = slot_hot.reshape(n, rows, cols, k)
    return np.repeat(np.repeat(blocks, shape[0] // rows, axis=1), shape[1] // cols, axis=2)


@pytest.mark.parametrize("grid", [2, 3, (2, 3)])
def test_slot_log_probabilities_are_each_heatmaps_softmax_mass_per_slot(grid):
    rows, cols = utils.parse_grid(grid)
    logits = np.random.default_rng(0).normal(size=(2, rows * 4, cols * 4, rows * cols))
    logp = borders.slot_log_probs(logits, grid)
    assert logp.shape == (2, rows * cols, rows * cols)
    np.testing.assert_allclose(np.exp(logp).sum(axis=2), 1.0)
    n, k, s = 1, rows * cols - 1, 0  # by hand: piece k's softmax mass over slot s
    soft = np.exp(logits[n, :, :, k]) / np.exp(logits[n, :, :, k]).sum()
    np.testing.assert_allclose(np.exp(logp[n, k, s]), soft[:4, :4].sum())


@pytest.mark.parametrize("grid", [2, 3])
def test_layout_decoding_with_uninformative_heatmaps_is_the_border_solver(grid):
    images = smooth_images(8, seed=3)
    shuffled, _ = utils.shuffle_pieces(images, grid, rng=4)
    flat = borders.slot_log_probs(np.zeros((8, 36, 36, utils.parse_grid(grid)[0] ** 2)), grid)
    assert (borders.solve(shuffled, grid, slot_costs=-flat, weight=2.0) == borders.solve(shuffled, grid)).all()


@pytest.mark.parametrize("grid", [2, 3, 4])
def test_layout_decoding_follows_confident_true_heatmaps_whatever_the_borders_say(grid):
    images = random_images(6, 24, 24, 3, seed=grid)  # noise: the borders point anywhere
    shuffled, permutation = utils.shuffle_pieces(images, grid, rng=5)
    slot_costs = -borders.slot_log_probs(truth_logits(permutation, grid, (24, 24)), grid)
    decoded = borders.solve(shuffled, grid, slot_costs=slot_costs, weight=0.1)
    assert (decoded == permutation).all()
    assert not (borders.solve(shuffled, grid) == permutation).all()  # the borders alone are wrong


def test_layout_decoding_of_two_identical_blank_pieces_is_scored_right_either_way():
    images = random_images(1, 24, 24, 1, seed=0)
    images[0, :12, :12] = 0  # the top-left and top-right pieces are the same blank square
    images[0, :12, 12:] = 0
    shuffled, permutation = utils.shuffle_pieces(images, 2, rng=0)
    logits = truth_logits(permutation, 2, (24, 24))
    blank = [int(s) for s in range(4) if permutation[0, s] in (0, 1)]
    logits[0, :, :, 0], logits[0, :, :, 1] = logits[0, :, :, 1].copy(), logits[0, :, :, 0].copy()  # swapped
    decoded = borders.solve(shuffled, 2, slot_costs=-borders.slot_log_probs(logits, 2), weight=0.1)
    assert sorted(decoded[0, blank].tolist()) == [0, 1]
    assert utils.jigsaw_scores(images, shuffled, permutation, decoded, 2)["exact"].tolist() == [1.0]


def test_slot_costs_of_the_wrong_shape_are_named():
    shuffled, _ = utils.shuffle_pieces(random_images(2, 12, 12), 2, rng=0)
    with pytest.raises(ValueError, match=r"slot_costs must have shape \(N, K, K\) = \(2, 4, 4\)"):
        borders.solve(shuffled, 2, slot_costs=np.zeros((2, 9, 9)))
