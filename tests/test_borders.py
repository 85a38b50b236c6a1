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
