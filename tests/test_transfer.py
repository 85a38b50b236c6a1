"""transfer.py and the library behind it: labelled subsets, canvases, keypoints, bodies, and the script."""

import json

import numpy as np
import pytest
from conftest import SMALL_RUN, run

import coco
import run_folder
import tasks
import utils

SHORT_TRANSFER = {"data": "sample", "steps": 6, "batch_size": 16, "verbose": 0}


# ------------------------------------------------------------------ labelled subsets
@pytest.mark.parametrize("num", [10, 100, 1000, 1001])
def test_balanced_subset_is_balanced_and_repeatable(num):
    (_, labels), _ = utils.load_mnist("sample")
    chosen = tasks.balanced_subset(labels, num, seed=3)
    counts = np.bincount(labels[chosen], minlength=tasks.NUM_CLASSES)
    assert len(chosen) == len(set(chosen)) == num
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(chosen, tasks.balanced_subset(labels, num, seed=3))
    assert not np.array_equal(chosen, tasks.balanced_subset(labels, num, seed=4))


def test_balanced_subset_refuses_more_labels_than_digits():
    labels = np.arange(50) % 10
    with pytest.raises(ValueError, match="only 50 digits"):
        tasks.balanced_subset(labels, 51, seed=0)
    with pytest.raises(ValueError, match="need 6 digits of class 1, there are 5"):
        tasks.balanced_subset(np.r_[labels, np.zeros(20, int)], 60, seed=0)


def test_labelled_split_carves_a_balanced_validation_tenth():
    (_, labels), _ = utils.load_mnist("sample")
    train, val = tasks.labelled_split(labels, 200, seed=0)
    assert len(train) == 180 and len(val) == 20 and not set(train) & set(val)
    np.testing.assert_array_equal(np.bincount(labels[val], minlength=10), 2)
    np.testing.assert_array_equal(np.bincount(labels[train], minlength=10), 18)


# ------------------------------------------------------------------ canvases and keypoints
@pytest.mark.parametrize("size", [56, 70])
def test_canvases_hold_their_digits_apart(size):
    (_, _), (images, labels) = utils.load_mnist("sample")
    canvases, classes, centres = tasks.make_canvases(images, labels, 40, size, 2, seed=1)
    assert canvases.shape == (40, size, size) and canvases.dtype == np.uint8
    corners = (centres - 14).astype(int)
    assert (np.abs(corners[:, 0] - corners[:, 1]) >= 28).any(axis=1).all()  # the boxes do not overlap
    for canvas, corner, cls in zip(canvases, corners, classes, strict=True):
        for (top, left), label in zip(corner, cls, strict=True):
            box = canvas[top : top + 28, left : left + 28]
            matches = np.flatnonzero((images == box).all(axis=(1, 2)) & (labels == label))
            assert len(matches) >= 1


def test_canvases_use_each_digit_once_and_refuse_small_canvases():
    images = np.stack([np.full((28, 28), i + 1, np.uint8) for i in range(20)])
    canvases, _, centres = tasks.make_canvases(images, np.arange(20) % 10, 10, 56, 2, seed=0)
    values = sorted(canvases[n, int(c[0]), int(c[1])] for n in range(10) for c in centres[n])
    assert values == list(range(1, 21))
    with pytest.raises(ValueError, match="cannot hold 2 non-overlapping 28x28 digits"):
        tasks.make_canvases(images, np.arange(20) % 10, 2, 50, 2)
    with pytest.raises(ValueError, match="need 22 digits"):
        tasks.make_canvases(images, np.arange(20) % 10, 11, 56, 2)


def test_keypoints_round_trip_through_their_heatmaps():
    (_, _), (images, labels) = utils.load_mnist("sample")
    _, classes, centres = tasks.make_canvases(images, labels, 30, 70, 2, seed=2)
    heatmaps = tasks.keypoint_heatmaps(classes, centres, 70, sigma=2.0)
    assert heatmaps.shape == (30, 70, 70, 10) and heatmaps.dtype == np.float32
    assert heatmaps.max() == pytest.approx(1.0)
    found_classes, found_centres = tasks.find_keypoints(heatmaps, 2)
    assert tasks.keypoint_scores(classes, centres, found_classes, found_centres).all()


def test_keypoint_scores_need_the_class_the_place_and_one_detection_each():
    classes, centres = np.array([[3, 3]]), np.array([[[10.0, 10.0], [40.0, 40.0]]])

    def found(pred_classes, pred_centres):
        return tasks.keypoint_scores(classes, centres, np.array([pred_classes]), np.array([pred_centres]))[0]

    np.testing.assert_array_equal(found([3, 3], [[11, 12], [40, 40]]), [True, True])
    np.testing.assert_array_equal(found([4, 3], [[10, 10], [40, 40]]), [False, True])  # wrong class
    np.testing.assert_array_equal(found([3, 3], [[10, 14], [40, 40]]), [False, True])  # 4 px away
    np.testing.assert_array_equal(found([3, 3], [[10, 10], [10, 10]]), [True, False])  # one detection, one digit


def test_find_keypoints_takes_the_strongest_peaks_over_all_classes():
    heatmaps = np.zeros((1, 20, 20, 10), np.float32)
    heatmaps[0, 5, 5, 2], heatmaps[0, 5, 6, 2] = 0.9, 0.8  # a shoulder, not a peak
    heatmaps[0, 15, 15, 7] = 0.5
    classes, centres = tasks.find_keypoints(heatmaps, 2)
    np.testing.assert_array_equal(classes, [[2, 7]])
    np.testing.assert_array_equal(centres, [[[5, 5], [15, 15]]])


def test_denoise_pairs_corrupt_repeatably_and_pad_to_the_grid(digits):
    noisy, clean = tasks.denoise_pairs(digits, 3, seed=0)
    assert noisy.shape == clean.shape == (8, 30, 30, 1) and noisy.dtype == np.float32
    assert 0 <= noisy.min() and noisy.max() <= 1
    np.testing.assert_array_equal(clean[:, :28, :28, 0], digits / np.float32(255))
    np.testing.assert_array_equal(noisy, tasks.denoise_pairs(digits, 3, seed=0)[0])
    assert 0.1 < np.abs(noisy - clean).mean() < 0.3


# ------------------------------------------------------------------ bodies
def config_of(arch, grid):
    rows, cols = utils.parse_grid(grid)
    shape = utils.padded_shape((28, 28), (rows, cols))
    return {**run_folder.DEFAULTS, "arch": arch, "grid": [rows, cols], "puzzle_shape": list(shape),
            "num_pieces": rows * cols}


@pytest.mark.parametrize("grid, canvas, tiles", [(2, 70, (5, 5)), (3, 70, (7, 7)), (4, 56, (8, 8))])
def test_run_pieces_tile_a_canvas(grid, canvas, tiles):
    assert run_folder.tiles(config_of("transformer", grid), (canvas, canvas)) == tiles


def test_run_pieces_that_do_not_tile_a_canvas_are_refused():
    with pytest.raises(ValueError, match="10x10 px pieces do not tile a 56x56 input"):
        run_folder.tiles(config_of("transformer", 3), (56, 56))


@pytest.mark.parametrize("arch", ["transformer", "unet"])
def test_copy_body_moves_every_weight_but_the_head(arch):
    from model_utils import HEAD, build_network, copy_body

    config = config_of(arch, 2)
    pretext = build_network(config)
    task = build_network(config, (70, 70), 10)
    copied = copy_body(pretext, task)
    assert HEAD not in copied and len(copied) == len([layer for layer in task.layers if layer.weights]) - 1
    for name in copied:
        for a, b in zip(pretext.get_layer(name).get_weights(), task.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert task.output_shape == (None, 70, 70, 10)


# ------------------------------------------------------------------ transfer()
@pytest.fixture(scope="module")
def pretext_runs(tmp_path_factory):
    """A tiny jigsaw run and a tiny denoising run of the 2x2 transformer on the sample."""
    runs = tmp_path_factory.mktemp("pretext")
    for name, extra in (("jigsaw", []), ("denoise", ["--pretext", "denoise"])):
        result = run("train.py", *SMALL_RUN, *extra, "--quiet", "--out", runs / name)
        assert result.returncode == 0, result.stderr[-2000:]
    return runs


def task_of(pretrained_run, mode, task="classify", labels=100):
    import model_utils
    import transfer

    settings = {**transfer.DEFAULTS, **SHORT_TRANSFER, "task": task}
    model_file, config = run_folder.find_model(pretrained_run)
    pretrained = model_utils.load_model(model_file)
    (x_train, y_train), (x_test, y_test) = utils.load_mnist("sample")
    if task == "centres":
        test = tasks.make_canvases(x_test, y_test, 40, settings["canvas"], 2, 0)
    else:
        test = (utils.pad_to_grid(x_test[:200], config["grid"]), y_test[:200])
    return transfer.Task(settings, config, pretrained, x_train, y_train, test, labels, mode, seed=0), pretrained


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", "centres"])
def test_linear_mode_keeps_the_pretrained_body_frozen(pretext_runs, task):
    cell, pretrained = task_of(pretext_runs / "jigsaw", "linear", task)
    cell.run()
    for layer in cell.body.layers:
        for a, b in zip(layer.get_weights(), pretrained.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", "centres"])
def test_the_new_output_layers_are_linear_in_the_body_features(pretext_runs, task):
    """So that 'linear' mode is a linear probe, the keypoint head's layout convolution included."""
    cell, _ = task_of(pretext_runs / "jigsaw", "linear", task)
    _, head = cell.build()
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(2, *head.input.shape[1:])).astype("float32") for _ in range(2))
    for layer in head.layers:  # random weights and biases: a zero-initialised layer would be trivially linear
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    zero = head.predict(np.zeros_like(a), verbose=0)

    def f(x):
        return head.predict(x, verbose=0) - zero

    # With random N(0, 1) weights the outputs run into the thousands, so float32 round-off
    # (which differs with the CPU's convolution kernels) is judged against that scale; any
    # nonlinearity would miss by a good fraction of it.
    scale = np.abs(f(a)).max()
    np.testing.assert_allclose(f(a + 2 * b), f(a) + 2 * f(b), rtol=1e-4, atol=1e-5 * scale)
    if task == "centres":  # a piece's features reach the heatmaps of its neighbours' pixels too
        rows, cols = head.input.shape[1:3]
        piece = cell.s["canvas"] // rows
        nudged = a.copy()
        nudged[:, rows // 2, cols // 2] += 1
        changed = np.abs(f(nudged) - f(a)).max(axis=(0, 3)) > 1e-3
        top, left = (rows // 2 - 1) * piece, (cols // 2 - 1) * piece  # the diagonal neighbour's pixels
        assert changed[top : top + piece, left : left + piece].any()


@pytest.mark.slow
def test_finetune_mode_trains_the_body(pretext_runs):
    cell, pretrained = task_of(pretext_runs / "jigsaw", "finetune")
    cell.run()
    changed = [
        not np.array_equal(a, b)
        for layer in cell.body.layers
        for a, b in zip(layer.get_weights(), pretrained.get_layer(layer.name).get_weights(), strict=True)
    ]
    assert sum(changed) > len(changed) // 2


@pytest.mark.slow
def test_transfer_runs_pretrained_control_and_scratch_cells(pretext_runs, tmp_path):
    import transfer

    cells = transfer.transfer(pretrained=str(pretext_runs / "jigsaw"), **SHORT_TRANSFER, labels=["20", "30"],
                              mode=["linear"], seeds=[0, 1])
    assert [(c["labels"], c["seed"]) for c in cells] == [(20, 0), (20, 1), (30, 0), (30, 1)]
    cells += transfer.transfer(pretrained=str(pretext_runs / "denoise"), **SHORT_TRANSFER, labels=["20"])
    cells += transfer.transfer(scratch=True, **SHORT_TRANSFER, labels=["20"], mode=["finetune"])
    default = "2x2 transformer piece-filters 16 edge-bias learned"  # SMALL_RUN trains the default network
    assert [c["init"] for c in cells[3:]] == [f"jigsaw {default}", f"denoise {default}", f"scratch {default}"]
    assert all(0 <= c["accuracy"] <= 1 for c in cells) and cells[-1]["mode"] == "finetune"
    assert all(c["cpu"] == utils.cpu_description() for c in cells)
    again = transfer.transfer(pretrained=str(pretext_runs / "jigsaw"), **SHORT_TRANSFER, labels=["20"],
                              mode=["linear"], seeds=[1], json=str(tmp_path / "cells.json"))
    assert again[0]["accuracy"] == cells[1]["accuracy"]  # a cell repeats exactly
    assert utils.load_json(tmp_path / "cells.json")[0]["accuracy"] == again[0]["accuracy"]


def test_random_batches_are_full_and_refuse_batches_past_the_end():
    from training import RandomBatches

    batches = RandomBatches(np.arange(90)[:, None], np.arange(90), batch_size=16, steps=120, seed=0)
    assert (batches.epochs, len(batches)) == (3, 40)
    seen = []
    for epoch in range(batches.epochs):
        batches.epoch = epoch
        seen += [batches[i][1] for i in range(len(batches))]
    assert {len(y) for y in seen} == {16}
    np.testing.assert_array_equal(np.concatenate(seen), batches.order[: 120 * 16])
    for epoch, index in ((3, 0), (0, 40)):
        batches.epoch = epoch
        with pytest.raises(IndexError, match=f"batch {index} of epoch {epoch}"):
            batches[index]
    pairs = RandomBatches([np.arange(90), -np.arange(90)], np.arange(90), batch_size=16, steps=120, seed=0)
    (first, second), y = pairs[5]  # several inputs: each picked by the same rows
    np.testing.assert_array_equal(first, y)
    np.testing.assert_array_equal(second, -y)
    np.testing.assert_array_equal(y, batches[5][1])


@pytest.mark.slow
@pytest.mark.parametrize("arch, task", [("transformer", "classify"), ("transformer", "centres"),
                                        ("unet", "classify"), ("unet", "pose")])
def test_every_training_step_sees_a_full_batch_of_its_epoch(monkeypatch, arch, task):
    """What fit() feeds the traced step: each epoch's batches once each, all full.

    Keras reads two batches for their shapes and calls on_epoch_end before training; a
    feed that counted those calls ran an epoch ahead and ended in empty batches, which
    oneDNN's convolution gradients reject (AVX-512 CPUs) and Eigen trains on as no data.
    """
    import transfer
    from training import RandomBatches

    seen = []
    getitem = RandomBatches.__getitem__

    def spy(self, index):
        x, y = getitem(self, index)
        seen.append((self.epoch, index, len(x), len(y)))
        return x, y

    monkeypatch.setattr(RandomBatches, "__getitem__", spy)
    steps = 120  # three epochs of 40 steps
    transfer.transfer(scratch=True, arch=arch, task=task, data="sample", steps=steps, batch_size=16,
                      labels=["40" if task == "centres" else "100"], mode=["finetune"], verbose=0)
    assert {(x, y) for _, _, x, y in seen} == {(16, 16)}
    trained = {(epoch, index) for epoch, index, _, _ in seen}
    assert trained == {(epoch, index) for epoch in range(3) for index in range(40)}


@pytest.mark.slow
def test_transfer_script_scores_digit_centres_in_one_line(pretext_runs):
    result = run("transfer.py", "--pretrained", pretext_runs / "jigsaw", "--task", "centres", "--data", "sample",
                 "--labels", "20", "--steps", "4", "--mode", "finetune")
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("jigsaw 2x2 transformer piece-filters 16 edge-bias learned, centres, 20 labels, "
                           "finetune, seed 0: found ")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "args, message",
    [
        (["--pretrained", "{tmp}"], "holds no best.keras or final.keras"),
        (["--pretrained", "{tmp}/nowhere"], "no model at"),
        (["--scratch", "--labels", "100000"], "--labels 100000 is more than the 3000 labelled digits"),
        (["--scratch", "--labels", "some"], "--labels takes positive integers or 'all'"),
        (["--scratch", "--grid", "3", "--task", "centres", "--canvas", "56"], "do not tile a 56x56 input"),
        (["--scratch", "--steps", "0"], "--steps must be a positive integer"),
        (["--scratch", "--labels", "19"], "--labels 19 is too few: classify needs at least 20 labelled digits"),
        (["--scratch", "--task", "centres", "--labels", "1"], "centres needs at least 2 labelled canvases"),
        (["--scratch", "--task", "keypoints"], "--task keypoints needs --annotations FILE.json (keypoints in COCO's "
                                               "format); the digit centres on a canvas are --task centres"),
        (["--scratch", "--seeds", "-1"], "--seeds must be non-negative integers, got [-1]"),
    ],
)
def test_transfer_script_bad_input_is_one_line(tmp_path, args, message):
    result = run("transfer.py", "--data", "sample", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("transfer.py: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scratch", "--mode", "probe"], "invalid choice: 'probe'"),
        (["--scratch", "--task", "segment"], "invalid choice: 'segment'"),
        (["--labels", "100"], "one of the arguments --pretrained --scratch --score is required"),
        (["--scratch", "--pretrained", "x"], "not allowed with argument"),
    ],
)
def test_transfer_script_bad_flags_are_one_line(args, message):
    result = run("transfer.py", *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_transfer_library_names_a_bad_mode():
    import transfer

    with pytest.raises(ValueError, match="unknown mode 'probe'"):
        transfer.transfer(scratch=True, mode=["probe"], data="sample")


@pytest.mark.slow
def test_evaluate_refuses_a_denoising_run(pretext_runs):
    result = run("evaluate.py", "--model", pretext_runs / "denoise", "--data", "sample")
    assert result.returncode == 1 and "trained on the denoise pretext" in result.stderr


# ------------------------------------------------------------------ digit pose
def draw(*strokes, size=28, width=3):
    """A uint8 digit of straight strokes ``((r0, c0), (r1, c1))``, ``width`` px thick."""
    image = np.zeros((size, size), np.uint8)
    for (r0, c0), (r1, c1) in strokes:
        for t in np.linspace(0, 1, 200):
            r, c = round(r0 + t * (r1 - r0)), round(c0 + t * (c1 - c0))
            image[max(r - width // 2, 0) : r + width // 2 + 1, max(c - width // 2, 0) : c + width // 2 + 1] = 255
    return image


def ring(size=28, radius=8):
    rows, cols = np.mgrid[:size, :size]
    distance = np.hypot(rows - size / 2, cols - size / 2)
    return np.where(np.abs(distance - radius) <= 1.5, 255, 0).astype(np.uint8)


@pytest.mark.parametrize("name, image, ends, junctions", [
    ("stroke", draw(((4, 14), (23, 14))), 2, 0),
    ("T", draw(((5, 5), (5, 22)), ((5, 14), (23, 14))), 3, 1),
    ("plus", draw(((14, 4), (14, 23)), ((4, 14), (23, 14))), 4, 1),
    ("ring", ring(), 0, 0),
    ("stroke with a 2 px spur", draw(((4, 10), (23, 10)), ((14, 10), (14, 13)), width=1), 2, 0),
    ("stroke with a 6 px branch", draw(((4, 10), (23, 10)), ((14, 10), (14, 17)), width=1), 3, 1),
])
def test_pose_keypoints_are_the_skeletons_stroke_ends_and_junctions(name, image, ends, junctions):
    keypoints = tasks.pose_keypoints(image[None])[0]
    assert (len(keypoints["end"]), len(keypoints["junction"])) == (ends, junctions), name


def test_pose_keypoints_lie_on_the_stroke_where_it_ends():
    keypoints = tasks.pose_keypoints(draw(((4, 14), (23, 14)))[None])[0]
    ends = sorted(map(tuple, keypoints["end"]))
    assert np.abs(np.array(ends) - [(4, 14), (23, 14)]).max() <= 2


def test_pose_heatmaps_round_trip_through_their_peaks():
    (_, _), (images, _) = utils.load_mnist("sample")
    keypoints = tasks.pose_keypoints(images[:50])
    heatmaps = tasks.pose_heatmaps(keypoints, (30, 30))  # a digit padded to 3x3's 30 px keeps its keypoints
    assert heatmaps.shape == (50, 30, 30, 2) and heatmaps.dtype == np.float32 and heatmaps.max() == 1.0
    found = tasks.find_pose_keypoints(heatmaps)
    scores = tasks.pose_scores(keypoints, found, radius=1.0)
    with pytest.raises(ValueError, match=r"pose heatmaps must be \(N, H, W, 2\).*got \(50, 30, 30, 1\)"):
        tasks.find_pose_keypoints(heatmaps[..., :1])
    assert scores["true"] > 50 and scores["recall"] > 0.95 and scores["precision"] > 0.95


def test_pose_scores_match_one_to_one_within_the_radius():
    true = [{"end": np.array([[5.0, 5.0], [5.0, 7.0]]), "junction": np.zeros((0, 2))}]
    found = [{"end": np.array([[5.0, 6.0]]), "junction": np.array([[20.0, 20.0]])}]  # one end near both true ends
    scores = tasks.pose_scores(true, found, radius=2.0)
    assert (scores["true"], scores["found"], scores["matched"]) == (2, 2, 1)
    assert scores["precision"] == scores["recall"] == scores["f1"] == 0.5
    assert scores["by_kind"]["end"]["precision"] == 1.0 and scores["by_kind"]["junction"]["precision"] == 0.0
    assert tasks.pose_scores(true, found, radius=0.5)["matched"] == 0
    with pytest.raises(ValueError, match="1 digits of true keypoints but 2"):
        tasks.pose_scores(true, found * 2)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["transformer", "unet"])
def test_transfer_scores_digit_pose_on_every_test_digit(arch, monkeypatch):
    """The cell's scores come from every test digit, and its val_ scores from its held-out tenth alone."""
    import transfer

    scored = []  # the digits each call of score() was given

    def spy(model, task, test):
        scored.append(test[0])
        return real_score(model, task, test)

    real_score = transfer.score
    monkeypatch.setattr(transfer, "score", spy)
    (cell,) = transfer.transfer(scratch=True, arch=arch, task="pose", data="sample", steps=8, batch_size=16,
                                labels=["40"], mode=["finetune"], verbose=0)
    network = {"transformer": "transformer piece-filters 16 edge-bias learned", "unet": "unet"}[arch]
    assert cell["task"] == "pose" and cell["init"] == f"scratch 2x2 {network}"
    (x_train, y_train), (x_test, _) = utils.load_mnist("sample")
    test_digits, val_digits = scored
    np.testing.assert_array_equal(test_digits, x_test)  # all 1,000 of the sample's test digits, in order
    # The held-out part of the 40 labelled training digits: max(40 // 10, 10 classes) = 10 digits, one per class.
    _, val = tasks.labelled_split(y_train, 40, seed=0)
    assert len(val_digits) == len(val) == 10
    np.testing.assert_array_equal(val_digits, x_train[val])
    assert all(0.0 <= cell[prefix + key] <= 1.0 for key in ("f1", "precision", "recall", "f1_1px")
               for prefix in ("", "val_"))
    assert "F1 " in transfer.describe(cell) and "within 1 px" in transfer.describe(cell)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", "pose"])
def test_a_saved_cell_scores_the_same_on_the_same_digits_and_on_others(tmp_path, task):
    import transfer

    (cell,) = transfer.transfer(scratch=True, task=task, data="sample", steps=6, batch_size=16, labels=["40"],
                                mode=["finetune"], save=str(tmp_path / "cells"), verbose=0)
    (folder,) = (tmp_path / "cells").iterdir()
    assert folder.name == f"scratch-2x2-transformer-piece-filters-16-edge-bias-learned-{task}-40-finetune-seed0"
    assert sorted(p.name for p in folder.iterdir()) == [transfer.CELL, transfer.MODEL]
    _, (x_test, y_test) = utils.load_mnist("sample")
    np.savez(tmp_path / "same.npz", x_test=x_test, y_test=y_test)  # x_test and y_test are all --score needs
    again = transfer.transfer(score=str(folder), data=str(tmp_path / "same.npz"), verbose=0)[0]
    key = "accuracy" if task == "classify" else "f1"
    assert again[key] == cell[key] and again["digits"] == 1000 and again["scored_on"] == str(tmp_path / "same.npz")
    np.savez(tmp_path / "other.npz", x_test=x_test[::-1][:300], y_test=y_test[::-1][:300])
    other = transfer.transfer(score=str(folder), data=str(tmp_path / "other.npz"), verbose=0)[0]
    assert other["digits"] == 300 and 0.0 <= other[key] <= 1.0


@pytest.mark.parametrize("args, message", [
    (["--score", "{tmp}/nothing", "--data", "sample"], "holds no cell saved by transfer.py --save"),
    (["--score", "{tmp}/cell"], "--score needs --data"),
    (["--score", "{tmp}/cell", "--data", "{tmp}/labels-only.npz"], "lacks the array(s) x_test"),
    (["--score", "{tmp}/cell", "--data", "{tmp}/missing.npz"], "no digits at"),
])
def test_scoring_a_saved_cell_refuses_bad_input_in_one_line(tmp_path, args, message):
    import transfer

    (tmp_path / "cell").mkdir()
    utils.save_json({"task": "classify", "grid": [2, 2], "canvas": 70}, tmp_path / "cell" / transfer.CELL)
    (tmp_path / "cell" / transfer.MODEL).write_bytes(b"")
    np.savez(tmp_path / "labels-only.npz", y_test=np.zeros(3, np.uint8))
    result = run("transfer.py", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("transfer.py: error:") and message in last, result.stderr[-1000:]


# ------------------------------------------------------------------ the frozen U-Net's probe
def unet_cell(task, mode, grid=2):
    import transfer

    settings = {**transfer.DEFAULTS, **SHORT_TRANSFER, "task": task, "scratch": True, "arch": "unet", "grid": grid}
    config, _, _ = transfer.body_config(settings)
    (x_train, y_train), (x_test, y_test) = utils.load_mnist("sample")
    test = transfer.test_set(task, config["grid"], settings["canvas"], x_test[:50], y_test[:50])
    return transfer.Task(settings, config, None, x_train, y_train, test, 20, mode, seed=0)


@pytest.mark.parametrize("mode", ["linear", "finetune"])
@pytest.mark.parametrize("task, grid, size", [("pose", 2, 28), ("pose", 3, 30), ("pose", 4, 28), ("centres", 2, 70)])
def test_a_unet_heatmap_head_is_the_size_of_its_input(task, grid, size, mode):
    """The U-Net pads 30 and 70 px inputs to a multiple of 4 inside; the new heatmaps are cropped back like its own."""
    cell = unet_cell(task, mode, grid)
    body, head = cell.build()
    x = cell.val_data[0][:2]
    assert x.shape[1:3] == (size, size)
    assert tuple(head(body(x)).shape) == (2, size, size, cell.val_data[1].shape[-1])


@pytest.mark.parametrize("task", ["classify", "pose"])
def test_a_frozen_unet_probe_reads_every_level_linearly(task):
    """The U-Net's last block is 16 channels: frozen, its probe sees every block's output, still linearly."""
    body, head = unet_cell(task, "linear").build()
    assert [tensor.shape[1:] for tensor in body.outputs] == [
        (28, 28, 16), (14, 14, 32), (7, 7, 64), (14, 14, 32), (28, 28, 16)]
    rng = np.random.default_rng(0)
    for layer in head.layers:
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    a, b = ([rng.normal(size=(2, *x.shape[1:])).astype("float32") for x in head.inputs] for _ in range(2))
    zero = head.predict([np.zeros_like(x) for x in a], verbose=0)

    def f(levels):
        return head.predict(levels, verbose=0) - zero

    scale = np.abs(f(a)).max()
    np.testing.assert_allclose(f([x + 2 * y for x, y in zip(a, b, strict=True)]), f(a) + 2 * f(b),
                               rtol=1e-4, atol=1e-5 * scale)
    for level in range(len(a)):  # every level reaches the output
        nudged = [x + (i == level) for i, x in enumerate(a)]
        assert np.abs(f(nudged) - f(a)).max() > 1e-3 * scale
    finetuned, _ = unet_cell(task, "finetune").build()
    assert len(finetuned.outputs) == 1  # fine-tuned, the head reads the last block as the pretext's did


@pytest.mark.slow
def test_a_frozen_unet_keeps_its_weights_while_its_probe_learns():
    cell = unet_cell("pose", "linear")
    before, _ = cell.build()
    cell.run()
    for layer in cell.body.layers:
        for a, b in zip(layer.get_weights(), before.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_frozen_unet_scores_the_same_whether_its_levels_are_computed_once_or_each_step(monkeypatch):
    """Every level of every labelled digit is computed once when it fits in memory, else each step: same cell."""
    import transfer

    once = unet_cell("classify", "linear").run()
    monkeypatch.setattr(transfer, "FEATURE_BYTES", 0)
    assert unet_cell("classify", "linear").run() == pytest.approx(once, abs=0.021)  # one test digit of 50


def test_a_jigsaw_without_its_shortcut_is_named_apart(monkeypatch):
    import transfer

    config = {**run_folder.DEFAULTS, "grid": [2, 2], "arch": "unet", "gap": 2}
    monkeypatch.setattr(run_folder, "find_model", lambda folder: ("model.keras", config))
    assert transfer.body_config({"pretrained": "runs/x", "scratch": False})[2] == "jigsaw 2x2 unet gap 2"
    monkeypatch.setattr(run_folder, "find_model", lambda folder: ("model.keras", {**config, "gap": 0}))
    assert transfer.body_config({"pretrained": "runs/x", "scratch": False})[2] == "jigsaw 2x2 unet"


@pytest.mark.parametrize("flags, name", [
    ({"piece_filters": 0, "edge_bias": "none"}, "2x2 transformer"),  # the plain piece transformer
    ({"piece_filters": 16, "edge_bias": "none"}, "2x2 transformer piece-filters 16"),
    ({"piece_filters": 16, "edge_bias": "learned"}, "2x2 transformer piece-filters 16 edge-bias learned"),
    ({"piece_filters": 0, "edge_bias": "learned", "gap": 2}, "2x2 transformer edge-bias learned gap 2"),
    ({"arch": "unet", "grid": [3, 3], "piece_filters": 16, "edge_bias": "learned"}, "3x3 unet"),
])
def test_each_transformer_body_names_its_row(flags, name):
    """Two transformers with different body flags must never share a row of the table."""
    import transfer

    config = {**run_folder.DEFAULTS, "grid": [2, 2], "arch": "transformer", "gap": 0, **flags}
    assert transfer.init_name("jigsaw", config) == f"jigsaw {name}"
    assert transfer.init_name("scratch", config) == f"scratch {name}"


@pytest.mark.slow
def test_a_body_trained_on_colour_photos_of_another_size_fine_tunes_on_digits(tmp_path):
    """A U-Net from 3-channel 36 px photographs takes 30 px digits, each repeated into all three channels."""
    import train
    import transfer

    train.train(data="photos", image_size=36, grid=3, arch="unet", epochs=1, batch_size=32, val_size=16,
                out=str(tmp_path / "photos"), verbose=0)
    assert json.loads((tmp_path / "photos" / "config.json").read_text())["channels"] == 3
    cells = transfer.transfer(pretrained=str(tmp_path / "photos"), task="classify", data="sample", steps=5,
                              labels=["40"], mode=["linear", "finetune"], verbose=0)
    assert [cell["init"] for cell in cells] == ["jigsaw 3x3 unet"] * 2
    assert all(0.0 <= cell["accuracy"] <= 1.0 for cell in cells)


# ------------------------------------------------------------------ your keypoints (COCO format)
@pytest.fixture(scope="module")
def figure_sets(tmp_path_factory):
    """Two small generated pose sets in COCO's format: 40 training images and 12 test images, 48 px."""
    from sample import figures

    root = tmp_path_factory.mktemp("figures")
    return figures.write(root / "train", 40, seed=0, size=48), figures.write(root / "test", 12, seed=1, size=48)


def test_the_masked_heatmap_loss_leaves_out_unlabelled_keypoints():
    import keras

    from model_utils import masked_heatmap_loss

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    targets = rng.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    labelled_only = masked_heatmap_loss(targets[..., :2], logits[..., :2])
    targets[..., 2] = -1.0  # the third keypoint is not labelled: whatever the network says there costs nothing
    for noise in (0.0, 50.0):
        moved = logits.copy()
        moved[..., 2] += noise
        np.testing.assert_allclose(masked_heatmap_loss(targets, moved), labelled_only, rtol=1e-5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)(targets[..., :2, None],
                                                                          logits[..., :2, None])
    np.testing.assert_allclose(labelled_only, np.mean(bce, axis=(1, 2, 3)), rtol=1e-5)


def test_one_annotation_file_is_split_by_image_so_no_image_is_both_trained_on_and_scored(figure_sets):
    import transfer

    train, _ = figure_sets
    labelled, scored = transfer.keypoint_sets({**transfer.DEFAULTS, "annotations": train})
    assert len(labelled) + len(scored) == len(coco.load(train)) and len(scored) > 0
    assert not set(labelled.image_ids) & set(scored.image_ids)


@pytest.mark.slow
def test_transfer_fine_tunes_on_coco_keypoints_and_writes_ap_pck_and_coco_results(figure_sets, tmp_path):
    from pycocotools.coco import COCO

    train, test = figure_sets
    common = ["--scratch", "--grid", "2", "--arch", "unet", "--image-size", "32", "--task", "keypoints",
              "--annotations", train, "--labels", "20", "--steps", "4", "--mode", "finetune",
              "--test-annotations", test]
    result = run("transfer.py", *common, "--predictions", tmp_path / "predictions", "--save", tmp_path / "cells",
                 "--json", tmp_path / "cells.json")
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("scratch 2x2 unet, keypoints, 20 labels, finetune, seed 0: OKS AP ")
    assert "PCK@0.1 " in line
    cell = json.loads((tmp_path / "cells.json").read_text())[0]
    assert set(cell) >= {"ap", "ap50", "ap75", "pck", "pck_per_keypoint", "val_ap", "val_pck"}
    assert list(cell["pck_per_keypoint"]) == list(coco.COCO_KEYPOINTS)
    assert cell["scored_instances"] == len(coco.load(test))
    name = "scratch-2x2-unet-keypoints-20-finetune-seed0"
    predictions = json.loads((tmp_path / "predictions" / f"{name}.json").read_text())
    assert len(predictions) == cell["scored_instances"] and len(predictions[0]["keypoints"]) == 3 * 17
    truth = COCO(str(test))
    assert len(truth.loadRes(str(tmp_path / "predictions" / f"{name}.json")).anns) == len(predictions)
    again = run("transfer.py", "--score", tmp_path / "cells" / name, "--test-annotations", test)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"OKS AP {100 * cell['ap']:.1f} (AP50 {100 * cell['ap50']:.1f}" in again.stdout
    assert f"PCK@0.1 {100 * cell['pck']:.1f} %" in again.stdout


@pytest.mark.parametrize("extra, message", [
    (["--oks-sigmas", "0.1", "0.2"], "--oks-sigmas needs one positive number per keypoint (17: nose, "),
    (["--labels", "100000"], "--labels 100000 is more than the "),
    (["--annotations", "{tmp}/missing.json"], "no such annotation file"),
    (["--test-annotations", "{tmp}/broken.json"], "not a COCO annotation file"),
])
def test_the_keypoints_task_names_bad_input_in_one_line(figure_sets, tmp_path, extra, message):
    train, _ = figure_sets
    (tmp_path / "broken.json").write_text('{"images": []}')
    args = ["--scratch", "--task", "keypoints", "--annotations", train]
    result = run("transfer.py", *args, *[str(a).replace("{tmp}", str(tmp_path)) for a in extra])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("transfer.py: error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
