"""Border matching: a jigsaw solver that learns nothing, the baseline a network must beat.

Numpy only. Each pair of pieces gets a cost for lying side by side (left-right) and one for
lying one above the other, from the pixels along their touching borders; a beam search then
places the pieces one slot at a time in row-major order, keeping the ``beam`` cheapest partial
layouts, and pairwise swaps polish the best one until no swap lowers its cost.

**The cost** (Gallagher 2012's idea, without its covariance): each piece's border line is
predicted from its gradient, ``2 * b1 - b2`` (the last pixel line plus the step from the one
before), and compared with the neighbour's touching line; the same from the neighbour's side;
squared differences summed over the line and the channels. A smooth image continues across a
cut, so the true neighbour predicts well. With ``frame=True`` the outside of the image counts
as black (MNIST digits): a piece on the image's border pays for its outer line's ink.

**Layouts.** A layout lists, for each position ``p`` of the original image (row-major), the slot
of the shuffled puzzle whose piece goes there: ``layout[p] = s``. The project's permutations say
the opposite, ``permutation[s] = p`` (slot ``s`` holds piece ``p``); ``solve`` returns those.
"""

import numpy as np

import utils

DEFAULT_BEAM = 100
DECODE = "border"  # its name among the decodings (evaluate.py --decode border)
LAYOUT = "layout"  # a network's heatmaps and the borders together (evaluate.py --decode layout)
DEFAULT_WEIGHT = 1.0  # the border costs' weight beside the heatmaps in layout decoding


def _lines(pieces):
    """The four border lines and the lines just inside them: ``(N, K, L, C)`` float64 each."""
    p = pieces.astype(np.float64)
    return {"top": (p[:, :, 0], p[:, :, 1]), "bottom": (p[:, :, -1], p[:, :, -2]),
            "left": (p[:, :, :, 0], p[:, :, :, 1]), "right": (p[:, :, :, -1], p[:, :, :, -2])}


def _pair_cost(first, first_inner, second, second_inner, measure):
    """``(N, K, K)``: ``[n, i, j]`` the cost of piece ``i``'s line ``first`` touching piece ``j``'s line ``second``."""
    if measure == "squared":
        return ((first[:, :, None] - second[:, None]) ** 2).sum(axis=(3, 4))
    ahead = 2 * first - first_inner  # piece i's line continued one pixel towards j
    back = 2 * second - second_inner  # piece j's line continued one pixel towards i
    cost = ((ahead[:, :, None] - second[:, None]) ** 2).sum(axis=(3, 4))
    cost += ((back[:, None] - first[:, :, None]) ** 2).sum(axis=(3, 4))
    return cost


MEASURES = ("gradient", "squared")


def check_beam(beam):
    """Raises ValueError unless the beam keeps at least one partial layout."""
    if beam < 1:
        raise ValueError(f"--beam must keep at least one layout, got {beam}")


def border_costs(puzzles, grid, frame=False, measure="gradient"):
    """The pairwise border costs of each puzzle's pieces.

    Args:
        puzzles: ``(N, H, W)`` or ``(N, H, W, C)`` shuffled puzzles, any numeric dtype, padded to
            the grid (``utils.pad_to_grid``).
        grid: int or ``(rows, cols)``; pieces need at least two pixels a side.
        frame: the outside of the image is black (digits): also return what each piece pays
            for lying on each of the image's four sides.
        measure: ``"gradient"``, each line predicted from its gradient (the module docstring),
            or ``"squared"``, the touching lines' plain squared difference.

    Returns:
        ``{"right": (N, K, K), "below": (N, K, K)}`` float64: ``right[n, i, j]`` is the cost of
        slot ``j``'s piece lying right of slot ``i``'s, ``below[n, i, j]`` of it lying below;
        with ``frame``, also ``"frame": (N, K, 4)``, the cost of each piece on the top, bottom,
        left and right side of the image.

    Raises:
        ValueError: if a piece is narrower or lower than two pixels.
    """
    return _piece_costs(utils.split_pieces(puzzles, grid), frame, measure)


def _piece_costs(pieces, frame, measure):
    """``border_costs`` of pieces already cut, ``(N, K, h, w[, C])``."""
    if pieces.ndim == 4:
        pieces = pieces[..., None]
    if min(pieces.shape[2:4]) < 2:
        raise ValueError(f"border matching needs pieces of at least 2x2 pixels, got {pieces.shape[2]}x"
                         f"{pieces.shape[3]}")
    utils.check_choice("border measure", measure, MEASURES)
    lines = _lines(pieces)
    costs = {"right": _pair_cost(*lines["right"], *lines["left"], measure),
             "below": _pair_cost(*lines["bottom"], *lines["top"], measure)}
    if frame:
        # Outside is black: the outer line continued outwards should be 0, and the outside is 0.
        sides = []
        for side in ("top", "bottom", "left", "right"):
            outer, inner = lines[side]
            cost = (outer ** 2).sum(axis=(2, 3))
            if measure == "gradient":  # and the outer line continued outwards should be black too
                cost = cost + ((2 * outer - inner) ** 2).sum(axis=(2, 3))
            sides.append(cost)
        costs["frame"] = np.stack(sides, axis=-1)
    return costs


def layout_cost(costs, layouts, grid):
    """The total border cost of layouts.

    Args:
        costs: ``border_costs`` of one puzzle's pieces, without the batch axis (``right`` and
            ``below`` ``(K, K)``, ``frame`` ``(K, 4)`` if given), and ``unary`` ``(K, K)`` if given:
            ``unary[p, s]``, the cost of slot ``s``'s piece at position ``p``.
        layouts: ``(M, K)`` int layouts (``layout[p] = slot``).
        grid: int or ``(rows, cols)``.

    Returns:
        ``(M,)`` float64.
    """
    rows, cols = utils.parse_grid(grid)
    tiles = np.asarray(layouts).reshape(-1, rows, cols)
    total = costs["right"][tiles[:, :, :-1], tiles[:, :, 1:]].sum(axis=(1, 2))
    total += costs["below"][tiles[:, :-1, :], tiles[:, 1:, :]].sum(axis=(1, 2))
    if "frame" in costs:
        frame = costs["frame"]
        total += (frame[tiles[:, 0, :], 0].sum(1) + frame[tiles[:, -1, :], 1].sum(1)
                  + frame[tiles[:, :, 0], 2].sum(1) + frame[tiles[:, :, -1], 3].sum(1))
    if "unary" in costs:  # each position's cost for the slot it takes (layout decoding: the heatmaps')
        flat = tiles.reshape(len(tiles), -1)
        total += costs["unary"][np.arange(flat.shape[1])[None], flat].sum(axis=1)
    return total


def twins(pieces):
    """``(N, K)`` int64: for each piece, the first slot whose piece is pixel-identical to it (often itself).

    Identical pieces (the blank corners of a digit) are interchangeable: a search that tries
    them in every order fills its beam with copies of one layout.
    """
    flat = pieces.reshape(*pieces.shape[:2], -1)
    same = (flat[:, :, None] == flat[:, None]).all(axis=-1)  # (N, K, K)
    return same.argmax(axis=2).astype(np.int64)


def beam_search(costs, grid, beam=DEFAULT_BEAM, twin=None):
    """The cheapest layout a row-major beam search finds for one puzzle.

    Args:
        costs: one puzzle's ``border_costs`` (no batch axis), with ``unary`` (``layout_cost``) if given.
        grid: int or ``(rows, cols)``.
        beam: how many partial layouts are kept after each slot is filled.
        twin: ``(K,)`` the first identical piece of each (``twins``): identical pieces are
            placed in slot order only, so the beam holds no two layouts that differ only by
            a swap of identical pieces. None: every piece differs.

    Returns:
        ``(K,)`` int64 layout.
    """
    rows, cols = utils.parse_grid(grid)
    k = rows * cols
    twin = np.arange(k) if twin is None else np.asarray(twin)
    # An identical piece may go down only once every earlier twin of it is placed.
    earlier = (twin[None, :] == twin[:, None]) & (np.arange(k)[None, :] < np.arange(k)[:, None])  # [j, i]: i before j
    right, below, frame = costs["right"], costs["below"], costs.get("frame")
    # Partial layouts hold different pieces, so their costs so far are not comparable: one that
    # placed the easy pieces first has only deferred the cost of the hard ones. Each piece's
    # cheapest possible joins (to a left and an upper neighbour) estimate what it will cost when
    # placed; ranking by the cost so far minus the estimates of the pieces placed ranks by the
    # cost so far plus the estimate of the pieces still to place, up to a constant.
    masked = lambda c: np.where(np.eye(k, dtype=bool), np.inf, c)  # noqa: E731
    left_join, upper_join = masked(right).min(axis=0), masked(below).min(axis=0)
    if frame is not None:  # a piece on the image's left or top side joins the black frame instead
        left_join, upper_join = np.minimum(left_join, frame[:, 2]), np.minimum(upper_join, frame[:, 0])
    estimate = left_join + upper_join
    unary = costs.get("unary")
    if unary is not None:  # and at least its cheapest position's unary cost
        estimate = estimate + unary.min(axis=0)
    placed = np.zeros((1, 0), np.int64)
    total = np.zeros(1)
    used = np.zeros((1, k), bool)
    for position in range(k):
        row, col = divmod(position, cols)
        step = np.zeros((len(placed), k))
        if col > 0:
            step += right[placed[:, position - 1]]
        if row > 0:
            step += below[placed[:, position - cols]]
        if frame is not None:
            step += (frame[:, 0] * (row == 0) + frame[:, 1] * (row == rows - 1)
                     + frame[:, 2] * (col == 0) + frame[:, 3] * (col == cols - 1))[None]
        if unary is not None:
            step += unary[position][None]
        waiting = (earlier[None] & ~used[:, None, :]).any(axis=2)  # (B, K): an earlier twin is not placed yet
        candidates = np.where(used | waiting, np.inf, total[:, None] + step - estimate[None]).ravel()
        keep = min(beam, int(np.isfinite(candidates).sum()))
        best = np.argpartition(candidates, keep - 1)[:keep] if keep < candidates.size else np.arange(candidates.size)
        best = best[np.isfinite(candidates[best])]
        parent, piece = np.divmod(best, k)
        placed = np.concatenate([placed[parent], piece[:, None]], axis=1)
        used = used[parent].copy()
        used[np.arange(len(best)), piece] = True
        total = candidates[best]
    return placed[np.argmin(total)]  # every layout has placed all K pieces: ranked by cost alone


def typical_cost(costs):
    """One puzzle's median cost of two different pieces side by side: the border costs' scale."""
    k = costs["right"].shape[0]
    off = ~np.eye(k, dtype=bool)
    return max(float(np.median(np.concatenate([costs["right"][off], costs["below"][off]]))), 1e-12)


def slot_log_probs(logits, grid) -> np.ndarray:
    """A softmax-loss network's heatmap logits as each piece's log-probability of each slot.

    Heatmap ``k`` is a softmax over the pixels; the probability that piece ``k`` lies in slot
    ``s`` is the mass of that softmax over the slot's pixels.

    Args:
        logits: ``(N, H, W, K)`` heatmap logits, the grid dividing ``H`` and ``W``.
        grid: int or ``(rows, cols)``.

    Returns:
        ``(N, K, S)`` float64 log-probabilities, ``[n, k, s]`` for piece ``k`` and slot ``s``.
    """
    logits = np.asarray(logits, np.float64)
    rows, cols = utils.parse_grid(grid)
    n, height, width, k = logits.shape
    if k != rows * cols or height % rows or width % cols:
        raise ValueError(f"logits must have shape (N, H, W, {rows * cols}) with H, W multiples of the {rows}x{cols} "
                         f"grid, got {logits.shape}")
    blocks = logits.reshape(n, rows, height // rows, cols, width // cols, k).transpose(0, 5, 1, 3, 2, 4)
    blocks = blocks.reshape(n, k, rows * cols, -1)  # (N, K, S, pixels of a slot)
    top = blocks.max(axis=(2, 3), keepdims=True)
    mass = np.exp(blocks - top).sum(axis=3)  # (N, K, S)
    return np.log(np.maximum(mass, 1e-300)) - np.log(mass.sum(axis=2, keepdims=True))


def improve_by_swaps(costs, layout, grid, max_rounds=100):
    """Swaps pairs of positions while a swap lowers the layout's cost, the best swap first.

    Returns:
        ``(K,)`` int64 layout, costing no more than ``layout``.
    """
    layout = np.asarray(layout, np.int64).copy()
    current = layout_cost(costs, layout[None], grid)[0]
    first, second = np.triu_indices(layout.size, 1)
    for _ in range(max_rounds):
        swapped = np.repeat(layout[None], len(first), axis=0)
        swapped[np.arange(len(first)), first] = layout[second]
        swapped[np.arange(len(first)), second] = layout[first]
        candidates = layout_cost(costs, swapped, grid)
        best = int(np.argmin(candidates))
        if candidates[best] >= current - 1e-9:
            break
        layout, current = swapped[best], candidates[best]
    return layout


def solve(puzzles, grid, beam=DEFAULT_BEAM, frame=False, swaps=True, measure="gradient", slot_costs=None,
          weight=1.0):
    """Solves puzzles by border matching alone: the border solver.

    Args:
        puzzles: ``(N, H, W[, C])`` shuffled puzzles, padded to the grid.
        grid: int or ``(rows, cols)``.
        beam: partial layouts kept by the beam search.
        frame: the outside of the image is black (digits).
        swaps: polish each layout with pairwise swaps.
        measure: the border cost, ``"gradient"`` or ``"squared"`` (``border_costs``).
        slot_costs: layout decoding: ``(N, K, S)`` costs of piece ``k`` in slot ``s`` (a network's
            ``-log`` probabilities, ``slot_log_probs``), added to the border costs, which are
            then scaled to ``weight`` times each puzzle's median pair cost. None: borders alone.
        weight: the border costs' weight beside ``slot_costs``.

    Returns:
        ``(N, K)`` int64 permutations, ``permutation[n, s] = k`` as ``utils.decode_heatmaps``
        returns them, for ``utils.reassemble`` and ``utils.jigsaw_scores``.
    """
    check_beam(beam)
    pieces = utils.split_pieces(puzzles, grid)  # cut once: for the costs and for the twins
    costs = _piece_costs(pieces, frame, measure)
    same = twins(pieces)
    permutations = []
    if slot_costs is not None:
        slot_costs = np.asarray(slot_costs, np.float64)
        if slot_costs.shape != (len(puzzles), pieces.shape[1], pieces.shape[1]):
            raise ValueError(f"slot_costs must have shape (N, K, K) = ({len(puzzles)}, {pieces.shape[1]}, "
                             f"{pieces.shape[1]}), got {slot_costs.shape}")
    for n in range(len(puzzles)):
        one = {name: value[n] for name, value in costs.items()}
        if slot_costs is not None:
            one = {**{name: value * weight / typical_cost(one) for name, value in one.items()},
                   "unary": slot_costs[n]}
        layout = beam_search(one, grid, beam, same[n])
        if swaps:
            layout = improve_by_swaps(one, layout, grid)
        permutations.append(np.argsort(layout))
    return np.stack(permutations).astype(np.int64)
