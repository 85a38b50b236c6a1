"""bench/bench.py: its baseline computes what our pipeline computes, and it runs.

No benchmark figure is asserted here: figures live in bench/results.json and the README.
"""

import functools
import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import ROOT, random_images

import tasks
import utils
from bench import bench, grids, transfer_table


@pytest.mark.parametrize("grid", [(2, 2), (3, 3), (7, 7), (2, 5)])
def test_reference_baseline_makes_the_same_puzzles_and_heatmaps_as_ours(grid):
    images = random_images(4, 28, 28)
    sigma = utils.default_sigma((28, 28), grid)
    shuffled, heatmaps, permutation = bench.reference_prepare(images, grid, sigma, seed=0)
    assert shuffled.dtype == heatmaps.dtype == np.float64  # the port's way: float64
    np.testing.assert_array_equal(shuffled.astype(np.uint8), utils.apply_permutation(images, permutation, grid))
    np.testing.assert_allclose(heatmaps, utils.make_heatmaps(permutation, grid, (28, 28), sigma), atol=1e-6)


def run_quick_section(section, tmp_path, timeout):
    """Runs one section of ``bench.bench --quick``; returns its printed output and its JSON entry."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench", "--quick", "--only", section, "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, json.loads((tmp_path / "r.json").read_text())[section]


@pytest.mark.slow
def test_quick_prep_section_runs_and_writes_json(tmp_path):
    _, prep = run_quick_section("prep", tmp_path, timeout=300)
    rows = prep["rows"]
    assert [row["grid"] for row in rows] == ["2x2", "4x4", "7x7"]
    for row in rows:
        assert row["ours_per_s"] > 0 and row["reference_per_s"] > 0
        assert row["ratio"] == pytest.approx(row["ours_per_s"] / row["reference_per_s"])
    assert prep["met"] == all(row["ratio"] >= 10 for row in rows)  # the goal: at least 10x at every grid


@pytest.mark.slow
def test_quick_cost_section_times_both_networks_at_2x2_and_7x7(tmp_path):
    stdout, cost = run_quick_section("cost", tmp_path, timeout=600)
    rows = cost["rows"]
    assert [row["grid"] for row in rows] == ["2x2", "7x7"]
    for row in rows:
        assert row["default_step_s"] > 0 and row["unet_step_s"] > 0
        assert row["ratio"] == pytest.approx(row["default_step_s"] / row["unet_step_s"])
    assert cost["met"] == all(row["ratio"] <= 2 for row in rows)  # the goal: at most 2x at every grid
    assert "cost, default/U-Net step" in stdout
    assert f"goal cost: {bench.GOALS['cost']}: {'met' if cost['met'] else 'NOT met'}" in stdout


@pytest.mark.parametrize("met, verdict", [(True, "met"), (False, "**not met**")])
def test_speed_table_says_whether_each_goal_was_met(met, verdict):
    results = {"arch": "unet", "pipeline": {"pipeline_per_s": 950.0, "arrays_per_s": 1000.0, "ratio": 0.95,
                                            "met": met}}
    table = bench.speed_markdown(results).splitlines()
    assert table[0] == "| what (original U-Net) | measured | goal | |"
    assert table[2].endswith(f"| 950 vs 1,000 digits/s (0.95x) | {bench.GOALS['pipeline']} | {verdict} |")
    assert table[3] == "| the CPU (`utils.cpu_description()`) | not recorded | | |"
    assert len(table) == 4  # only the sections the file holds, and the CPU


def test_network_flags_are_train_flags_that_give_the_networks_settings():
    import train
    from bench.bench import NETWORKS, network_flags

    for arch, settings in NETWORKS.items():
        parsed = vars(train.get_args(network_flags(arch)))
        assert {key: parsed[key] for key in settings} == settings


def test_every_row_of_the_grid_table_is_a_valid_train_and_evaluate_command():
    """bench/grids.py's rows are the README's commands: each must parse and pass the checks."""
    import evaluate
    import train

    for name, (grid, epochs, extra) in grids.ROWS.items():
        train_command, evaluate_command = grids.commands(name, "sample", "runs/grids")
        if extra is None:  # the border solver: nothing to train, no network to score
            args = evaluate.get_args(evaluate_command[2:])
            assert train_command is None and args.model is None and args.decode == "border"
            assert args.grid == str(grid) and args.metrics == f"runs/grids/{name}/metrics.json"
            continue
        assert train_command[:2] == ["python", "train.py"] and evaluate_command[:2] == ["python", "evaluate.py"]
        args = vars(train.get_args(train_command[2:]))
        args.pop("quiet")
        train.check_settings({**train.DEFAULTS, **args})
        assert (args["grid"], args["epochs"], args["out"]) == (str(grid), epochs, f"runs/grids/{name}")
        assert args["arch"] == name.split("-")[0]
        assert evaluate.get_args(evaluate_command[2:]).model == args["out"]


def test_grid_table_markdown_has_one_row_per_result():
    row = {"grid": [4, 4], "epochs": 3, "exact": 0.5, "pieces": 0.75, "permutation": 0.25, "kendall_tau": 0.5,
           "train_seconds": 125.0, "parameters": 1234}
    table = grids.markdown({"transformer-4x4": row, "unet-4x4": row}).splitlines()
    assert len(table) == 4
    assert (
        table[2]
        == "| piece transformer (default) | 4x4 | 3 | 50.00 % | 75.00 % | 25.00 % | 0.5000 | 2 min 05 s | 1,234 |"
    )
    assert table[3].startswith("| original U-Net | 4x4 |")


def test_a_border_solver_row_trains_nothing_and_stays_off_the_front_page():
    network = {"grid": [3, 3], "epochs": 8, "exact": 0.9, "pieces": 0.95, "permutation": 0.5, "kendall_tau": 0.7,
               "train_seconds": 60.0, "parameters": 10}
    border = {**network, "epochs": 0, "train_seconds": 0.0, "parameters": 0, "ms_per_puzzle": 2.25}
    table = grids.markdown({"transformer-3x3": network, "border-3x3": border}).splitlines()
    assert table[3] == ("| border solver (learns nothing) | 3x3 | – | 90.00 % | 95.00 % | 50.00 % | 0.7000 | "
                        "none (2.2 ms a puzzle) | 0 |")
    short = grids.short_markdown({"transformer-3x3": network, "border-3x3": border}).splitlines()
    assert len(short) == 3 and short[2].startswith("| piece transformer (default) | 3x3 | 8 |")


def test_grid_table_stops_in_one_line_at_an_interrupted_row(tmp_path):
    """A row's training time must come from one whole run: an interrupted one is named, never resumed or timed."""
    partial = tmp_path / "transformer-2x2.partial"
    partial.mkdir()
    with pytest.raises(SystemExit) as stop:
        grids.main(["--only", "transformer-2x2", "--runs", str(tmp_path), "--json", str(tmp_path / "grids.json")])
    assert stop.value.code == (
        f"grids.py: error: row transformer-2x2: {partial} holds an interrupted run; delete it to train the row again"
    )
    assert not (tmp_path / "grids.json").exists()


def test_every_command_of_the_transfer_table_is_valid():
    """bench/transfer_table.py's pretext and transfer commands must parse and pass the checks."""
    import train
    import transfer

    for name in transfer_table.PRETEXTS:
        for run in range(transfer_table.PRETEXT_RUNS):
            command = transfer_table.pretext_command(name, "sample", "runs/transfer", run)
            args = vars(train.get_args(command[2:]))
            args.pop("quiet")
            train.check_settings({**train.DEFAULTS, **args})
            assert (args["pretext"], args["arch"]) == tuple(name.split("-")[:2])
            assert (args["gap"] > 0) == name.endswith("-gap") and args["seed"] == run
            assert args["grid"] == name.split("-")[2][0]  # as typed: train.py reads "2" or "2x3"
            if args["arch"] == "transformer":  # the plain network, or the default one with or without its edge bias
                assert args["piece_filters"] == (16 if "-default" in name else 0)
                assert (args["edge_bias"] == "learned") == (name.endswith("-default"))
            assert args["out"] == str(transfer_table.pretext_folder(name, "runs/transfer", run))
    folders = {transfer_table.pretext_folder(name, "runs", run) for name in transfer_table.PRETEXTS
               for run in range(transfer_table.PRETEXT_RUNS)}
    assert len(folders) == len(transfer_table.PRETEXTS) * transfer_table.PRETEXT_RUNS  # no two runs share a folder
    args = transfer_table.get_args([])
    plan = transfer_table.planned(args)
    assert len({(init, task, mode) for init, task, mode, _ in plan}) == len(plan) == 2 * 11 + 2 * 6 + 2 * 15
    assert {init for init, *_ in plan} == set(transfer_table.INITS)  # every pretext run is used by some cell
    for init, task, mode, labels in plan:
        for extra, seeds in transfer_table.by_pretext_run(init, [0, 1, 2, 3, 4]):
            command = transfer_table.transfer_command(init, task, mode, labels, seeds, "sample", "runs/transfer",
                                                      **extra)
            parsed = transfer.get_args(command[2:])
            assert (parsed.task, parsed.mode, parsed.labels, parsed.seeds) == (task, [mode], labels, seeds)
            assert parsed.steps == tasks.STEPS[task]
            assert parsed.scratch == init.startswith("scratch")
            if not parsed.scratch:
                assert parsed.pretrained == str(transfer_table.pretext_folder(init, "runs/transfer", extra["run"]))


def test_each_downstream_seed_starts_from_its_pretext_run():
    runs = transfer_table.by_pretext_run("jigsaw-unet-2x2", [0, 1, 2, 3, 4])
    assert runs == [({"run": 0}, [0, 3]), ({"run": 1}, [1, 4]), ({"run": 2}, [2])]
    assert transfer_table.by_pretext_run("scratch-unet-2x2", [0, 1, 2, 3, 4]) == [({"run": 0}, [0, 1, 2, 3, 4])]
    assert transfer_table.pretext_folder("jigsaw-unet-2x2", "runs", 0).name == "jigsaw-unet-2x2"
    assert transfer_table.pretext_folder("jigsaw-unet-2x2", "runs", 2).name == "jigsaw-unet-2x2-seed2"


def test_transfer_table_summarises_seeds_and_restricts_its_plan():
    cells = [{"task": "classify", "labels": 100, "mode": "linear", "init": "jigsaw 2x2 transformer", "seed": seed,
              "accuracy": accuracy, "seconds": 10.0, "pretrained": f"runs/j-seed{seed}"}
             for seed, accuracy in ((0, 0.5), (1, 0.7))]
    summary = transfer_table.summarise(cells)
    mean, std, n, _, runs = summary[("classify", "100", "linear", "jigsaw 2x2 transformer")]
    # The sample standard deviation (n - 1): 0.2 / sqrt(2), not np.std's 0.1.
    assert (mean, std, n, runs) == (pytest.approx(0.6), pytest.approx(0.2 / np.sqrt(2)), 2, 2)
    table = transfer_table.markdown(summary).splitlines()
    assert table[0] == "| classify: initialisation | 100 linear |"
    assert table[2] == "| jigsaw 2x2 transformer | 60.0 ± 14.1 |"
    one_seed = transfer_table.markdown(transfer_table.summarise(cells[:1])).splitlines()
    assert one_seed[2] == "| jigsaw 2x2 transformer | 50.0 (1 seed) |"
    three_seeds = [{**cells[0], "init": "scratch 2x2 transformer", "seed": seed} for seed in range(3)]
    mixed = transfer_table.markdown(transfer_table.summarise(cells + three_seeds)).splitlines()
    assert mixed[2:] == ["| scratch 2x2 transformer | 50.0 ± 0.0 |",
                         "| jigsaw 2x2 transformer | 60.0 ± 14.1 (2 seeds) |"]
    # Five seeds from one pretext run say so; from their three runs they do not.
    five = [{**cells[0], "seed": seed, "init": "jigsaw 2x2 unet gap 2", "pretrained": "runs/a"} for seed in range(5)]
    one_run = transfer_table.markdown(transfer_table.summarise(five)).splitlines()
    assert one_run[2] == "| jigsaw 2x2 unet gap 2 | 50.0 ± 0.0 (1 pretext run) |"
    spread = [{**cell, "pretrained": f"runs/a-seed{cell['seed'] % 3}"} for cell in five]
    assert transfer_table.markdown(transfer_table.summarise(spread)).splitlines()[2].endswith("| 50.0 ± 0.0 |")
    default = "2x2 transformer piece-filters 16"
    order = ["jigsaw 3x3 unet", "jigsaw 2x2 unet gap 2", "jigsaw 2x2 unet", "scratch 2x2 unet", "denoise 2x2 unet",
             f"jigsaw {default}", f"jigsaw {default} edge-bias learned", f"scratch {default} edge-bias learned",
             "jigsaw 2x2 transformer", "jigsaw 3x3 transformer", f"scratch {default}"]
    assert sorted(order, key=transfer_table.init_order) == [
        "jigsaw 2x2 transformer", "jigsaw 3x3 transformer", f"scratch {default} edge-bias learned",
        f"scratch {default}", f"jigsaw {default} edge-bias learned", f"jigsaw {default}",
        "scratch 2x2 unet", "denoise 2x2 unet", "jigsaw 2x2 unet", "jigsaw 2x2 unet gap 2", "jigsaw 3x3 unet"]
    keypoints = [{**cells[0], "task": "centres", "found": 0.25, "labels": 1000}]
    pose = [{**cells[0], "task": "pose", "f1": 0.5}]
    assert transfer_table.summarise(pose)[("pose", "100", "linear", cells[0]["init"])][0] == 0.5
    two_tasks = transfer_table.markdown(transfer_table.summarise(cells + keypoints)).split("\n\n")
    assert [table.splitlines()[0] for table in two_tasks] == [
        "| classify: initialisation | 100 linear |", "| centres: initialisation | 1000 linear |"]
    assert two_tasks[1].splitlines()[2] == "| jigsaw 2x2 transformer | 25.0 (1 seed) |"
    args = transfer_table.get_args(["--tasks", "centres", "--modes", "finetune", "--labels", "100",
                                    "--only", "jigsaw-unet-2x2", "jigsaw-transformer-4x4"])
    assert transfer_table.planned(args) == [("jigsaw-unet-2x2", "centres", "finetune", ["100"])]


@pytest.mark.parametrize(("row", "expected"), [
    ("jigsaw-unet-3x3", {"random weights": "scratch-unet-2x2", "denoising": "denoise-unet-2x2",
                         "the 2x2 jigsaw": "jigsaw-unet-2x2"}),  # the U-Net's body does not depend on the grid
    ("jigsaw-unet-2x2-gap", {"random weights": "scratch-unet-2x2", "denoising": "denoise-unet-2x2",
                             "the jigsaw with its shortcut": "jigsaw-unet-2x2"}),
    ("jigsaw-transformer-4x4-default", {"random weights": "scratch-transformer-4x4-default",
                                        "denoising": "denoise-transformer-2x2-default",
                                        "the 2x2 jigsaw": "jigsaw-transformer-2x2-default"}),
    ("jigsaw-transformer-2x2-default-no-edge-bias", {
        "random weights": "scratch-transformer-2x2-default-no-edge-bias",
        "denoising": "denoise-transformer-2x2-default",
        "the jigsaw with its shortcut": "jigsaw-transformer-2x2-default"}),
    ("denoise-transformer-2x2", {"random weights": "scratch-transformer-2x2"}),
])
def test_transfer_table_pairs_each_pretrained_row_with_its_baselines(row, expected):
    assert transfer_table.baselines(row) == expected


def test_transfer_table_pairs_cells_by_seed():
    def cell(row, init, seed, f1, labels=100):
        return {"row": row, "init": init, "task": "pose", "mode": "finetune", "labels": labels, "seed": seed, "f1": f1}

    cells = [cell("scratch-unet-2x2", "scratch 2x2 unet", 0, 0.50),
             cell("scratch-unet-2x2", "scratch 2x2 unet", 1, 0.40),
             cell("jigsaw-unet-2x2", "jigsaw 2x2 unet", 0, 0.49), cell("jigsaw-unet-2x2", "jigsaw 2x2 unet", 1, 0.46),
             cell("jigsaw-unet-2x2", "jigsaw 2x2 unet", 2, 0.90),  # no seed 2 from random weights: not paired
             cell("jigsaw-unet-2x2", "jigsaw 2x2 unet", 0, 0.60, labels="all")]  # no random weights at all labels
    lines = transfer_table.paired(cells).splitlines()
    assert lines[0] == "| pose, paired by seed: initialisation | minus | 100 finetune | all finetune |"
    # One line: no denoising cells to pair with, and random weights are no pretrained row.
    assert lines[2:] == ["| jigsaw 2x2 unet | random weights | +2.5 (1/2: -1.0..+6.0) |  |"]
    assert transfer_table.paired(cells[:2]) == ""


def test_transfer_table_runs_only_the_cells_not_yet_measured():
    done = [{"labels": label, "mode": "linear", "seed": seed} for label in (100, "all") for seed in (0, 1, 2)]
    done.append({"labels": 1000, "mode": "linear", "seed": 0})
    assert transfer_table.missing(done, ["100", "1000", "all"], [0, 1, 2, 3, 4]) == [
        (["1000"], [1, 2]), (["100", "1000", "all"], [3, 4])]
    assert transfer_table.missing(done, ["100", "all"], [0, 1, 2]) == []


def test_transfer_table_measures_again_a_cell_from_another_pretext_run():
    init = "jigsaw-unet-2x2"
    folders = {0: "runs/transfer/jigsaw-unet-2x2", 1: "elsewhere/jigsaw-unet-2x2-seed1",  # any --runs folder
               2: "runs/transfer/jigsaw-unet-2x2", 3: None}  # seed 2 from run 0, not run 2; seed 3 names no run
    done = [{"labels": 100, "mode": "linear", "seed": seed, "pretrained": folder} for seed, folder in folders.items()]
    source = functools.partial(transfer_table.pretext_source, init)
    assert [source(seed) for seed in range(4)] == [
        "jigsaw-unet-2x2", "jigsaw-unet-2x2-seed1", "jigsaw-unet-2x2-seed2", "jigsaw-unet-2x2"]
    assert transfer_table.missing(done, ["100"], [0, 1, 2, 3], source) == [(["100"], [2, 3])]
    assert transfer_table.missing(done, ["100"], [0, 1, 2, 3]) == []  # no source: any run will do
    assert transfer_table.pretext_source("scratch-unet-2x2", 2) is None


def fake_transfer(monkeypatch):
    """Stands for transfer.py in ``transfer_table.run``: writes one cell (accuracy 0.6) per seed it was given.

    Returns the commands it was given, a list it appends to."""
    commands = []

    def fake_run(command):
        commands.append(command)
        seeds = [int(seed) for seed in command[command.index("--seeds") + 1 : command.index("--json")]]
        utils.save_json([{"labels": 100, "mode": "linear", "seed": seed, "accuracy": 0.6} for seed in seeds],
                        command[command.index("--json") + 1])

    monkeypatch.setattr(transfer_table, "run", fake_run)
    return commands


def fake_transfer_command(labels, seeds, json):
    """The transfer.py command line ``transfer_table.measure`` asks for (``command_for``)."""
    return ["transfer.py", "--labels", *labels, "--seeds", *map(str, seeds), "--json", str(json)]


def test_transfer_table_merges_new_seeds_into_the_cells_file(tmp_path, monkeypatch):
    path = tmp_path / "cells.json"
    utils.save_json([{"labels": 100, "mode": "linear", "seed": 0, "accuracy": 0.5}], path)
    commands = fake_transfer(monkeypatch)
    transfer_table.measure(fake_transfer_command, path, ["100"], [0, 1, 2], retrain=False)
    assert len(commands) == 1 and commands[0][commands[0].index("--seeds") + 1 :][:2] == ["1", "2"]
    assert sorted((c["seed"], c["accuracy"]) for c in utils.load_json(path)) == [(0, 0.5), (1, 0.6), (2, 0.6)]
    assert not (tmp_path / "cells.part.json").exists()
    transfer_table.measure(fake_transfer_command, path, ["100"], [0, 1, 2], retrain=False)
    assert len(commands) == 1  # nothing left to measure
    transfer_table.measure(fake_transfer_command, path, ["100"], [0], retrain=True)  # redoes seed 0, keeps the others
    assert len(commands) == 2
    assert sorted((c["seed"], c["accuracy"]) for c in utils.load_json(path)) == [(0, 0.6), (1, 0.6), (2, 0.6)]

    def command_from_run(labels, seeds, json, run):  # one command per pretext run
        return [*fake_transfer_command(labels, seeds, json), "--run", str(run)]

    group = functools.partial(transfer_table.by_pretext_run, "jigsaw-unet-2x2")
    transfer_table.measure(command_from_run, path, ["100"], [0, 1, 2, 3, 4], retrain=False, group=group)
    assert [command[command.index("--seeds") + 1 :] for command in commands[2:]] == [
        ["3", "--json", str(tmp_path / "cells.part.json"), "--run", "0"],
        ["4", "--json", str(tmp_path / "cells.part.json"), "--run", "1"]]
    assert sorted(c["seed"] for c in utils.load_json(path)) == [0, 1, 2, 3, 4]


def test_transfer_table_keeps_the_cells_a_stopped_run_measured(tmp_path, monkeypatch):
    """transfer.py rewrites its part file after each cell: a study stopped mid-run keeps those cells on restart."""
    path = tmp_path / "cells.json"
    utils.save_json([{"labels": 100, "mode": "linear", "seed": 0, "accuracy": 0.5}], path)
    utils.save_json([{"labels": 100, "mode": "linear", "seed": 1, "accuracy": 0.7}], tmp_path / "cells.part.json")
    commands = fake_transfer(monkeypatch)
    transfer_table.measure(fake_transfer_command, path, ["100"], [0, 1, 2], retrain=False)
    assert [command[command.index("--seeds") + 1 : command.index("--json")] for command in commands] == [["2"]]
    assert sorted((c["seed"], c["accuracy"]) for c in utils.load_json(path)) == [(0, 0.5), (1, 0.7), (2, 0.6)]
    assert not (tmp_path / "cells.part.json").exists()


def test_transfer_table_resumes_from_the_results_file_alone(tmp_path, monkeypatch):
    """A fresh clone has the results file but no runs folder: the cells it holds are read, not measured again,
    and a run restricted to one row keeps the other rows' cells in the results file."""
    row = {"init": "scratch 2x2 unet", "task": "pose", "mode": "linear", "labels": 100, "f1": 0.5, "seconds": 1.0,
           "row": "scratch-unet-2x2"}
    other = {**row, "mode": "finetune", "seed": 0}  # another row: not restored into this row's cells file
    results = tmp_path / "transfer.json"
    utils.save_json({"cells": [{**row, "seed": seed} for seed in (0, 1)] + [other]}, results)
    commands = []
    monkeypatch.setattr(transfer_table, "run", commands.append)
    transfer_table.main(["--tasks", "pose", "--modes", "linear", "--only", "scratch-unet-2x2", "--labels", "100",
                         "--seeds", "0", "1", "--runs", str(tmp_path / "runs"), "--json", str(results),
                         "--plot", str(tmp_path / "transfer.png")])
    assert commands == []  # both seeds were in the results file
    restored = utils.load_json(transfer_table.cells_file("scratch-unet-2x2", "pose", "linear", tmp_path / "runs"))
    assert sorted((c["seed"], c["mode"]) for c in restored) == [(0, "linear"), (1, "linear")]
    assert sorted((c["mode"], c["seed"]) for c in utils.load_json(results)["cells"]) == [
        ("finetune", 0), ("linear", 0), ("linear", 1)]


@pytest.mark.parametrize("collect", [False, True])
def test_transfer_table_curve_measures_only_the_budgets_it_lacks(tmp_path, monkeypatch, collect):
    """--curve resumes: a budget in its cells file is not trained again, and --collect trains none."""
    curve_cell = {"val_f1": 0.5, "val_f1_1px": 0.4, "val_precision": 0.6, "val_recall": 0.4, "seconds": 1.0,
                  "cpu": "a CPU"}
    path = tmp_path / "runs" / "cells" / "curve-scratch-unet-2x2-pose-finetune.json"
    path.parent.mkdir(parents=True)
    utils.save_json([{**curve_cell, "steps": transfer_table.CURVE[0]}], path)
    trained = []

    def fake_run(command):  # writes the part file transfer.py would, for the --steps it was given
        steps = int(command[command.index("--steps") + 1])
        trained.append(steps)
        utils.save_json([{**curve_cell, "steps": steps}], command[command.index("--json") + 1])

    monkeypatch.setattr(transfer_table, "run", fake_run)
    transfer_table.main(["--curve", *(["--collect"] if collect else []), "--runs", str(tmp_path / "runs"),
                         "--json", str(tmp_path / "t.json"), "--plot", str(tmp_path / "t.png")])
    assert trained == ([] if collect else transfer_table.CURVE[1:])
    measured = transfer_table.CURVE[:1] if collect else transfer_table.CURVE
    assert [c["steps"] for c in utils.load_json(tmp_path / "t.json")["curve"]] == measured


def test_the_curve_is_scored_on_held_out_training_digits_not_the_test_digits():
    """A budget is chosen on each cell's held-out tenth: a cell scored on the test digits alone is refused."""
    cell = {"steps": 300, "val_f1": 0.5, "val_f1_1px": 0.25, "val_precision": 0.75, "val_recall": 0.375,
            "seconds": 79.4, "cpu": "a CPU", "f1": 0.99}
    row = "| 300 | 50.0 % | 25.0 % | 75.0 % | 37.5 % | 79 | a CPU |"
    assert transfer_table.curve_markdown([cell]).splitlines()[2] == row
    test_only = {key: value for key, value in cell.items() if not key.startswith("val_")}
    with pytest.raises(ValueError, match="cell 0 lacks val_f1, val_f1_1px, val_precision, val_recall"):
        transfer_table.checked_cells([test_only], "curve.json", transfer_table.CURVE_KEYS)


@pytest.mark.parametrize(("extra", "message"), [([], "no cell of the chosen rows"),
                                               (["--curve"], "no cell of the curve")])
def test_transfer_table_collect_without_cells_is_one_line(tmp_path, extra, message):
    result = subprocess.run(
        [sys.executable, "-m", "bench.transfer_table", "--collect", *extra, "--runs", str(tmp_path), "--json",
         str(tmp_path / "t.json"), "--plot", str(tmp_path / "t.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"transfer_table.py: error: {message}")
    assert not (tmp_path / "t.json").exists() and not (tmp_path / "t.png").exists()


CELL = {"init": "scratch 2x2 unet", "task": "pose", "mode": "linear", "labels": 100, "seed": 0, "f1": 0.5,
        "seconds": 1.0}


@pytest.mark.parametrize(("cells", "results", "message"), [
    ([{k: v for k, v in CELL.items() if k != "seed"}], None, "cell 0 lacks seed"),
    ([CELL, {k: v for k, v in CELL.items() if k != "f1"}], None, "cell 1 lacks f1"),
    ([{**CELL, "task": "poses"}], None, "cell 0 has an unknown task 'poses'"),
    ({"cells": [CELL]}, None, "its cells are not a list of JSON objects"),
    ([CELL], [CELL], "is not a transfer table's results file"),
    ([CELL], {"cells": [{k: v for k, v in CELL.items() if k != "task"}]}, "cell 0 lacks task"),
    ([CELL], {"cells": [], "pretext_commands": ["python train.py"]}, "its pretext_commands are not"),
    ([CELL], {"cells": [], "transfer_commands": {"a": 1}}, "its transfer_commands are not"),
])
def test_transfer_table_names_the_file_and_cell_it_cannot_read(tmp_path, cells, results, message):
    """A cells or results file that is not what transfer.py and the table write ends in one line naming it."""
    cells_path = transfer_table.cells_file("scratch-unet-2x2", "pose", "linear", tmp_path / "runs")
    cells_path.parent.mkdir(parents=True)
    utils.save_json(cells, cells_path)
    json_path = tmp_path / "t.json"
    if results is not None:
        utils.save_json(results, json_path)
    with pytest.raises(SystemExit) as stop:
        transfer_table.main(["--collect", "--tasks", "pose", "--modes", "linear", "--only", "scratch-unet-2x2",
                             "--labels", "100", "--seeds", "0", "--runs", str(tmp_path / "runs"),
                             "--json", str(json_path), "--plot", str(tmp_path / "t.png")])
    named = json_path if results is not None else cells_path
    assert str(stop.value.code).startswith(f"transfer_table.py: error: {named}")
    assert message in str(stop.value.code) and "\n" not in str(stop.value.code)
    assert not (tmp_path / "t.png").exists()


def test_transfer_table_collect_keeps_the_commands_it_holds(tmp_path):
    """--collect runs nothing, so its own --data and --runs must not rewrite the commands that made the cells."""
    cells_path = transfer_table.cells_file("scratch-unet-2x2", "pose", "linear", tmp_path / "runs")
    cells_path.parent.mkdir(parents=True)
    utils.save_json([CELL], cells_path)
    key = "scratch-unet-2x2 pose linear seeds 0"
    stored = {"pretext_commands": {"jigsaw-unet-2x2": "python train.py --data mnist.npz"},
              "transfer_commands": {key: "python transfer.py --data mnist.npz"}}
    json_path = tmp_path / "t.json"
    utils.save_json({"cells": [], **stored}, json_path)
    transfer_table.main(["--collect", "--tasks", "pose", "--modes", "linear", "--only", "scratch-unet-2x2",
                         "--labels", "100", "--seeds", "0", "--runs", str(tmp_path / "runs"),
                         "--json", str(json_path), "--plot", str(tmp_path / "t.png")])
    table = utils.load_json(json_path)
    assert table["pretext_commands"]["jigsaw-unet-2x2"] == stored["pretext_commands"]["jigsaw-unet-2x2"]
    assert table["transfer_commands"] == stored["transfer_commands"]
    assert "--data sample" in table["pretext_commands"]["jigsaw-unet-3x3"]  # a command it lacked is added
    assert [cell["f1"] for cell in table["cells"]] == [CELL["f1"]]


@pytest.mark.parametrize("modes", [["linear"], ["finetune"], ["linear", "finetune"]])
def test_transfer_table_plot_has_a_legend_whichever_modes_it_holds(tmp_path, monkeypatch, modes):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at
    cells = [{"task": "pose", "labels": labels, "mode": mode, "init": init, "seed": 0, "f1": 0.5, "seconds": 1.0}
             for labels in (100, 1000) for mode in modes for init in ("scratch 2x2 unet", "jigsaw 2x2 unet")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when asked for a legend on a panel with no lines
        transfer_table.plot(transfer_table.summarise(cells), tmp_path / "transfer.png")
    assert (tmp_path / "transfer.png").stat().st_size > 0
    legends = [ax.get_legend() for ax in figures[0].axes if ax.get_legend() is not None]
    assert [[text.get_text() for text in legend.get_texts()] for legend in legends] == [
        ["scratch 2x2 unet", "jigsaw 2x2 unet"]]
    figures[0].clf()


def test_transfer_table_plot_legend_names_rows_measured_in_one_mode_only(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at
    both, frozen_only = "scratch 2x2 unet", "jigsaw 3x3 unet"  # the fine-tuned panel lacks the second row
    cells = [{"task": "pose", "labels": 100, "mode": mode, "init": init, "seed": 0, "f1": 0.5, "seconds": 1.0}
             for mode, init in (("linear", both), ("finetune", both), ("linear", frozen_only))]
    transfer_table.plot(transfer_table.summarise(cells), tmp_path / "transfer.png")
    legends = [ax.get_legend() for ax in figures[0].axes if ax.get_legend() is not None]
    # Two rows of panels: the U-Net's 2x2 rows, and its harder grids beside its 2x2 random weights.
    assert [[text.get_text() for text in legend.get_texts()] for legend in legends] == [[both], [both, frozen_only]]
    figures[0].clf()


def test_transfer_table_plot_gives_each_row_one_colour_in_both_panels(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at
    inits = [f"jigsaw {grid}x{grid} unet" for grid in range(2, 14)]  # 12 rows: more than matplotlib's 10 colours
    cells = [{"task": "pose", "labels": 100, "mode": mode, "init": init, "seed": 0, "f1": 0.5, "seconds": 1.0}
             for mode in transfer_table.MODES for init in inits
             if not (mode == "linear" and init == inits[0])]  # a row the linear panel lacks
    transfer_table.plot(transfer_table.summarise(cells), tmp_path / "transfer.png")
    axes = figures[0].axes  # a row of panels per group of rows: frozen, then fine-tuned
    linear, finetune = ({bars.get_label(): bars.lines[0].get_color()
                         for ax in axes[column::2] for bars in ax.containers} for column in (0, 1))
    assert len(set(finetune.values())) == len(inits)
    assert linear == {init: finetune[init] for init in inits[1:]}
    figures[0].clf()


def test_transfer_figure_draws_at_most_four_lines_a_panel_and_every_row_somewhere(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at
    summary = transfer_table.summarise(utils.load_json(ROOT / "bench" / "transfer.json")["cells"])
    transfer_table.plot(summary, tmp_path / "transfer.png")
    drawn = [{bars.get_label() for bars in ax.containers} for ax in figures[0].axes]
    assert max(len(lines) for lines in drawn) <= 4
    assert set().union(*drawn) == {key[3] for key in summary}
    figures[0].clf()


def collect(tmp_path):
    """Runs ``--collect`` on bench/transfer.json restored into an empty runs folder (a fresh clone)."""
    results = tmp_path / "transfer.json"
    shutil.copyfile(ROOT / "bench" / "transfer.json", results)
    transfer_table.main(["--collect", "--runs", str(tmp_path / "runs"), "--json", str(results),
                         "--plot", str(tmp_path / "transfer.png")])


def test_doc_transfer_tables_are_the_ones_the_results_file_makes(tmp_path, capsys):
    """Each table of docs/transfer-tables.md is, row for row, what `--collect` prints from bench/transfer.json,
    so no figure there can drift from the cells that made it (bench.tables writes them there)."""
    text = (ROOT / "docs" / "transfer-tables.md").read_text()
    found = transfer_table.tables_of(text)
    assert len(found) == 6  # classify, centres, pose, and each one's pairs
    collect(tmp_path)
    printed = transfer_table.tables_of(capsys.readouterr().out)
    assert len(printed) == 6 and all(f"\n{table}\n" in text for table in printed)
    assert (tmp_path / "transfer.json").read_text() == (ROOT / "bench" / "transfer.json").read_text()


@pytest.mark.parametrize("ratio, verdict", [(1.05, "met"), (1.2, "**not met**")])
def test_images_table_says_whether_streaming_and_memory_goals_were_met(ratio, verdict):
    from bench import images

    results = {"cpu": "a CPU",
               "streaming": {"images": 6400, "size": 64, "grid": "4x4", "folder_per_s": 93.0, "memory_per_s": 100.0,
                             "ratio": 0.93, "met": True},
               "memory": {"files": [20000, 200000], "runs": {"20000": {"peak_rss_mb": 1000.0},
                                                             "200000": {"peak_rss_mb": 1000.0 * ratio}},
                          "ratio": ratio, "met": ratio <= 1.1}}
    table = images.markdown(results).splitlines()
    assert table[2].endswith("| 93 vs 100 images/s (0.93x) | a folder of JPEGs >= 0.9x the same images from memory | "
                             "met |")
    assert table[3].endswith(f"({ratio:.2f}x) | ≤ 1.1x | {verdict} |")
    assert table[-1] == "| the CPU (`utils.cpu_description()`) | a CPU | | |" and len(table) == 5


@pytest.mark.parametrize("tf_data, verdict", [(104.0, "met"), (120.0, "**not met**")])
def test_images_table_says_whether_the_loader_train_py_uses_is_the_fastest(tf_data, verdict):
    from bench import images

    per_s = {"PyDataset, 2 worker threads": 100.0, "tf.data, 2 parallel calls": tf_data, "PyDataset, 1 thread": 60.0}
    fastest = max(per_s, key=per_s.get)
    results = {"cpu": "a CPU", "loader": {"images": 6400, "size": 64, "grid": "4x4", "per_s": per_s,
                                          "ratios": {name: rate / 100.0 for name, rate in per_s.items()},
                                          "fastest": fastest, "met": tf_data / 100.0 < 1.05}}
    row = images.markdown(results).splitlines()[2]
    assert f"| 100 vs {tf_data:.0f} / 60 images/s ({tf_data / 100:.2f}x / 0.60x) |" in row
    assert row.endswith(f"(within 5 %) | {verdict} |")


def test_the_tf_data_loader_feeds_exactly_train_py_batches(tmp_path):
    import data
    from bench import images
    from training import PuzzleBatches

    images.write_folder(tmp_path, 10, 32, "jpg")
    files = data.ImageFiles(tmp_path, data.list_images(tmp_path)[0], (32, 32), 3)
    batches = PuzzleBatches(files, (2, 2), 4.0, 4, seed=3)
    fed = list(images.tf_data_batches(batches, 2).as_numpy_iterator())
    assert len(fed) == len(batches) == 3
    for index, (x, y) in enumerate(fed):
        expected_x, expected_y = batches[index]
        np.testing.assert_array_equal(x, expected_x)
        np.testing.assert_array_equal(y, expected_y)


def test_images_writes_folders_of_images_of_one_size(tmp_path):
    from bench import images

    images.write_folder(tmp_path, 12, 32, "png")
    import data

    source = data.open_images(tmp_path, image_size=32, grid=2)
    assert len(source.train) + len(source.test) == 12 and source.channels == 3
    assert sorted({p.parent.name for p in tmp_path.rglob("*.png")}) == ["0000"]


def test_photos_results_table_has_one_row_per_run_and_the_cpu():
    from bench import photos

    row = {"network": "unet", "grid": "3x3", "epochs": 50, "steps": 1500, "train_images": 12, "test_images": 1000,
           "exact": 0.1234, "pieces": 0.5, "train_seconds": 610.0}
    table = photos.markdown({"rows": [row], "cpu": "a CPU"}).splitlines()
    assert table[2] == "| original U-Net (`--arch unet`) | 3x3 | 1,500 | 12 | 1,000 | 12.34 % | 50.00 % | 10 min |"
    assert table[-1].startswith("| the CPU | a CPU |")
    assert sum("not measured yet" in line for line in table) == len(photos.RESULTS) - 1
    border = {"network": "border", "grid": "3x3", "epochs": 0, "train_images": 0, "test_images": 1000,
              "exact": 0.9, "pieces": 0.92, "ms_per_puzzle": 0.55}
    table = photos.markdown({"rows": [row, border], "cpu": "a CPU"}).splitlines()
    assert table[2] == ("| border solver (learns nothing) | 3x3 | – | – | 1,000 | 90.00 % | 92.00 % | "
                        "none (0.6 ms a puzzle) |")  # each grid's rows together, the border solver first


@pytest.mark.parametrize("network, border, verdict", [(0.96, 0.9, "met"), (0.96, 0.97, "**not met**"),
                                                      (0.94, 0.5, "**not met**")])
def test_photos_goals_ask_for_the_goal_and_a_win_over_border_matching(network, border, verdict):
    from bench import photos

    rows = [{"network": "transformer", "grid": "3x3", "exact": network},
            {"network": "border", "grid": "3x3", "exact": border}]
    line = next(line for line in photos.goals_markdown({"rows": rows}).splitlines() if line.startswith("| 3x3"))
    assert line.endswith(f"| {verdict} |")


def test_photos_ship_refuses_runs_larger_than_models_may_hold(tmp_path, monkeypatch):
    from bench import photos

    monkeypatch.setattr(photos, "MODELS", tmp_path / "models")
    monkeypatch.setattr(photos, "without_optimizer", shutil.copy2)  # these models are bytes, not Keras files
    for arch, grid in photos.RESULTS:
        run = tmp_path / "runs" / f"{arch}-{grid}x{grid}"
        run.mkdir(parents=True)
        for name in photos.SHIPPED:
            (run / name).write_bytes(b"x" * (8 * 2**20 if name == "best.keras" else 10))
    with pytest.raises(ValueError, match="more than models/ may hold"):
        photos.ship(tmp_path / "runs")
    assert not (tmp_path / "models").exists()  # nothing copied
    for arch, grid in photos.RESULTS:
        (tmp_path / "runs" / f"{arch}-{grid}x{grid}" / "best.keras").write_bytes(b"small")
    photos.ship(tmp_path / "runs")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["photos-2x2", "photos-3x3", "photos-4x4"]


@pytest.mark.parametrize("staged, resumed", [(False, False), (True, True)])
def test_photos_results_continue_only_an_interrupted_run(tmp_path, monkeypatch, staged, resumed):
    import run_folder
    from bench import photos

    (tmp_path / "corpus" / "test").mkdir(parents=True)  # the corpus is written: no photograph is cut
    monkeypatch.setattr(photos, "RESULTS_JSON", tmp_path / "photos.json")
    arch, grid = photos.RESULTS[0]
    staging = run_folder.staging_folder(tmp_path / f"{arch}-{grid}x{grid}")
    staging.mkdir()  # without its config.json a staging folder is no run to resume
    if staged:
        (staging / run_folder.CONFIG).write_text("{}")
    commands = []

    def stop(command, check):
        commands.append(command)
        raise KeyboardInterrupt  # the first train.py is all this test needs

    monkeypatch.setattr(photos.subprocess, "run", stop)
    with pytest.raises(KeyboardInterrupt):
        photos.results(tmp_path, seed=0)
    assert ("--resume" in commands[0]) is resumed
    assert commands[0][commands[0].index("--val-data") + 1] == str(tmp_path / "corpus" / "val")
    assert "--crop" in commands[0] and "--edge-bias" in commands[0]


def test_cells_written_when_digit_centres_were_called_keypoints_read_as_centres():
    from bench import transfer_table

    old = {"init": "jigsaw 2x2 unet", "task": "keypoints", "labels": 100, "mode": "linear", "seed": 0,
           "found": 0.5, "all_found": 0.25, "steps": 300, "pretrained": "runs/a", "seconds": 1.0, "cpu": "a CPU"}
    cells = transfer_table.checked_cells([dict(old)], "old.json", transfer_table.MEASURED_KEYS, scored=True)
    assert cells[0]["task"] == "centres"
    summary = transfer_table.summarise(cells)
    assert summary[("centres", "100", "linear", "jigsaw 2x2 unet")][0] == 0.5


def test_the_figures_table_spells_out_every_setting_in_its_commands(tmp_path):
    from bench import figures_table

    pretext = figures_table.pretext_command("jigsaw-unet-2x2-gap", tmp_path, 1)
    assert pretext[:8] == ["python", "train.py", "--data", str(tmp_path / "train" / "images"), "--image-size",
                           str(figures_table.IMAGE_SIZE), "--epochs", str(figures_table.PRETEXT_EPOCHS)]
    assert pretext[-4:] == ["--seed", "1", "--out", str(tmp_path / "jigsaw-unet-2x2-gap-seed1")]
    assert "--gap" in pretext
    scratch = figures_table.transfer_command("scratch-unet-2x2", ["100"], [0, 3], tmp_path, "cells.json")
    assert scratch[2:9] == ["--scratch", "--grid", "2", "--arch", "unet", "--image-size",
                            str(figures_table.IMAGE_SIZE)]
    assert scratch[scratch.index("--steps") + 1] == str(figures_table.STEPS)
    assert scratch[scratch.index("--test-annotations") + 1] == str(tmp_path / "test" / "keypoints.json")
    pretrained = figures_table.transfer_command("denoise-unet-2x2", ["1000"], [2], tmp_path, "c.json", run=2)
    assert pretrained[2:4] == ["--pretrained", str(tmp_path / "denoise-unet-2x2-seed2")]


@pytest.mark.slow
def test_the_figures_table_runs_resumes_and_pairs_its_rows(tmp_path, monkeypatch, capfd):
    from bench import figures_table

    for name, value in (("TRAIN_IMAGES", 24), ("TEST_IMAGES", 8), ("IMAGE_SIZE", 32), ("PRETEXT_EPOCHS", 1),
                        ("STEPS", 2)):
        monkeypatch.setattr(figures_table, name, value)
    args = ["--runs", str(tmp_path), "--json", str(tmp_path / "out.json"), "--seeds", "0", "1",
            "--only", "scratch-unet-2x2", "jigsaw-unet-2x2", "--labels", "100"]
    with pytest.raises(SystemExit) as stop:
        figures_table.main(args)
    assert str(stop.value.code).startswith("figures_table.py: error: transfer.py failed (exit 1): python transfer.py")
    assert "--labels 100 is more than the" in capfd.readouterr().err  # 24 images hold fewer figures than 100
    args[args.index("100")] = "20"
    figures_table.main(args)
    printed = capfd.readouterr().out
    assert "| keypoints: initialisation | 20 finetune |" in printed
    assert "| jigsaw 2x2 unet | random weights |" in printed
    results = json.loads((tmp_path / "out.json").read_text())
    assert sorted((c["row"], c["seed"]) for c in results["cells"]) == [
        ("jigsaw-unet-2x2", 0), ("jigsaw-unet-2x2", 1), ("scratch-unet-2x2", 0), ("scratch-unet-2x2", 1)]
    assert (tmp_path / "jigsaw-unet-2x2-seed1" / "config.json").is_file()  # seed 1 starts from pretext run 1
    stamp = (tmp_path / "cells" / "scratch-unet-2x2-keypoints-finetune.json").stat().st_mtime_ns
    figures_table.main(args)  # resumes: every cell is measured, nothing runs again
    assert (tmp_path / "cells" / "scratch-unet-2x2-keypoints-finetune.json").stat().st_mtime_ns == stamp



def test_the_figures_pretext_tables_read_each_runs_held_out_scores(tmp_path):
    from bench import figures_table

    for name, metrics, config in (
            ("jigsaw-unet-2x2", {"hungarian": {"exact": 0.5, "pieces": 0.75}}, {"num_pieces": 4}),
            ("jigsaw-unet-4x4-seed2", {"hungarian": {"exact": 0.0, "pieces": 0.125}}, {"num_pieces": 16}),
            ("denoise-unet-2x2", {"val_loss": 0.04}, {"pretext": "denoise"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "val_metrics.json").write_text(json.dumps({"train_seconds": 12.0, **metrics}))
        (tmp_path / name / "config.json").write_text(json.dumps({"epochs": 20, **config}))
    scores = figures_table.pretext_scores(tmp_path)
    assert [s["run"] for s in scores] == ["jigsaw-unet-2x2", "jigsaw-unet-4x4-seed2", "denoise-unet-2x2"]
    table = figures_table.pretext_markdown(scores)
    assert "| jigsaw-unet-2x2 | 20 | 50.0 % | 75.0 % (25.0 %) |  | 12 |" in table
    assert "| jigsaw-unet-4x4-seed2 | 20 | 0.0 % | 12.5 % (6.2 %) |  | 12 |" in table
    assert "| denoise-unet-2x2 | 20 |  |  | 0.0400 | 12 |" in table


def test_the_figures_pretext_curve_shows_every_fifth_epoch_from_the_runs_log(tmp_path):
    from bench import figures_table

    folder = figures_table.curve_folder(tmp_path)
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    rows = [f"{e},0.1,{10.0 * (e + 1)},{e / 100},0.03,{0.25 + e / 100}" for e in range(12)]
    (folder / "log.csv").write_text("epoch,loss,seconds,val_exact,val_loss,val_pieces\n" + "\n".join(rows) + "\n")
    curve = figures_table.pretext_curve(tmp_path, collect=True)
    assert curve[0] == {"epoch": 1, "val_exact": 0.0, "val_pieces": 0.25, "seconds": 10.0}
    lines = figures_table.pretext_curve_markdown(curve).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| 1", "| 5", "| 10"]
    assert lines[-1] == "| 10 | 9.0 % | 34.0 % | 100 |"
    with pytest.raises(ValueError, match="the pretext curve is not trained"):
        figures_table.pretext_curve(tmp_path / "elsewhere", collect=True)


def test_the_figures_pretext_curve_is_pretext_run_0_while_the_budgets_agree(tmp_path, monkeypatch):
    from bench import figures_table

    assert figures_table.PRETEXT_CURVE_EPOCHS == figures_table.PRETEXT_EPOCHS
    assert figures_table.curve_folder(tmp_path) == tmp_path / "jigsaw-unet-2x2"
    trained = []
    monkeypatch.setattr(transfer_table, "run", lambda command: trained.append(command))
    with pytest.raises(ValueError, match="the pretext curve is not trained"):  # the fake run writes no log
        figures_table.pretext_curve(tmp_path, collect=False)
    assert trained[0][:-2] == figures_table.pretext_command("jigsaw-unet-2x2", tmp_path)  # the study's own run
    monkeypatch.setattr(figures_table, "PRETEXT_CURVE_EPOCHS", figures_table.PRETEXT_EPOCHS + 10)
    assert figures_table.curve_folder(tmp_path) == tmp_path / "curve-jigsaw-unet-2x2"


def test_a_pretext_run_interrupted_is_continued_not_trained_again(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(transfer_table, "run", lambda command: trained.append(command[-2:]))
    command = ["python", "train.py", "--epochs", "30", "--out", str(tmp_path / "jigsaw-unet-2x2")]
    transfer_table.train_pretext(command)
    (tmp_path / "jigsaw-unet-2x2.partial").mkdir()
    transfer_table.train_pretext(command)  # a folder without its config.json is no interrupted run
    (tmp_path / "jigsaw-unet-2x2.partial" / "config.json").write_text("{}")
    transfer_table.train_pretext(command)
    assert trained == [["--quiet", "--overwrite"], ["--quiet", "--overwrite"], ["--quiet", "--resume"]]


def test_the_figures_table_collects_the_pretext_runs_before_any_cell(tmp_path, capfd):
    from bench import figures_table

    args = ["--runs", str(tmp_path), "--json", str(tmp_path / "out.json"), "--collect"]
    with pytest.raises(SystemExit) as stop:
        figures_table.main(args)
    assert str(stop.value.code) == (f"figures_table.py: error: no pretext run or cell is measured in {tmp_path}: "
                                    "run the table without --collect first")
    folder = tmp_path / "denoise-unet-2x2-seed1"
    folder.mkdir()
    (folder / "val_metrics.json").write_text(json.dumps({"train_seconds": 12.0, "val_loss": 0.04}))
    with pytest.raises(SystemExit) as stop:
        figures_table.main(args)
    assert "denoise-unet-2x2-seed1 has its val_metrics.json but no config.json" in str(stop.value.code)
    assert not (tmp_path / "out.json").exists()
    (folder / "config.json").write_text(json.dumps({"epochs": 30, "pretext": "denoise"}))
    figures_table.main(args)
    assert "| denoise-unet-2x2-seed1 | 30 |  |  | 0.0400 | 12 |" in capfd.readouterr().out
    results = json.loads((tmp_path / "out.json").read_text())
    assert results["cells"] == [] and [s["run"] for s in results["pretext"]] == ["denoise-unet-2x2-seed1"]


def test_the_figures_tables_appear_as_their_parts_are_measured():
    from bench import figures_table

    assert figures_table.tables({}) == []
    curve = [{"steps": 300, "val_ap": 0.2, "val_ap50": 0.7, "val_pck": 0.5, "seconds": 400.0, "cpu": "a CPU"},
             {"steps": 500, "val_ap": 0.3, "val_ap50": 0.8, "val_pck": 0.6, "seconds": 60.0, "cpu": "a CPU",
              "accelerator": "a GPU, Keras jax backend"}]
    (table,) = figures_table.tables({"curve": curve})
    assert "| 300 | 20.0 | 70.0 | 50.0 % | 400 | a CPU |" in table
    assert "| 500 | 30.0 | 80.0 | 60.0 % | 60 | a GPU, Keras jax backend (host: a CPU) |" in table


def test_the_figures_cells_make_oks_ap_and_pck_tables():
    """OKS AP is the headline; PCK@0.1 gets its own summary and paired tables, read from each cell's ``pck``."""
    from bench import figures_table

    def cell(row, init, seed, ap, pck):
        return {"row": row, "init": init, "task": "keypoints", "mode": "finetune", "labels": 100, "seed": seed,
                "ap": ap, "pck": pck, "seconds": 1.0, "filled": {"area": 0}}

    cells = [cell("scratch-unet-2x2", "scratch 2x2 unet", 0, 0.02, 0.30),
             cell("scratch-unet-2x2", "scratch 2x2 unet", 1, 0.04, 0.40),
             {**cell("jigsaw-unet-2x2", "jigsaw 2x2 unet", 0, 0.03, 0.36), "pretrained": "runs/jigsaw-unet-2x2"},
             {**cell("jigsaw-unet-2x2", "jigsaw 2x2 unet", 1, 0.02, 0.38), "pretrained": "runs/jigsaw-unet-2x2-seed1"}]
    ap, ap_pairs, pck, pck_pairs = figures_table.tables({"cells": cells})
    assert ap.splitlines()[0] == "| keypoints: initialisation | 100 finetune |"
    assert ap.splitlines()[2:] == ["| scratch 2x2 unet | 3.0 ± 1.4 |", "| jigsaw 2x2 unet | 2.5 ± 0.7 |"]
    assert ap_pairs.splitlines()[2:] == ["| jigsaw 2x2 unet | random weights | -0.5 (1/2: -2.0..+1.0) |"]
    assert pck.splitlines()[0] == "| keypoints, PCK@0.1: initialisation | 100 finetune |"
    assert pck.splitlines()[2:] == ["| scratch 2x2 unet | 35.0 ± 7.1 |", "| jigsaw 2x2 unet | 37.0 ± 1.4 |"]
    assert pck_pairs.splitlines()[0] == "| keypoints, PCK@0.1, paired by seed: initialisation | minus | 100 finetune |"
    assert pck_pairs.splitlines()[2:] == ["| jigsaw 2x2 unet | random weights | +2.0 (1/2: -2.0..+6.0) |"]


def test_figures_cells_scored_on_box_areas_are_named_so_and_never_mixed():
    """Cells from before OKS was scored on the file's own areas (no ``filled``) get a box-area AP header."""
    from bench import figures_table

    cell = {"row": "scratch-unet-2x2", "init": "scratch 2x2 unet", "task": "keypoints", "mode": "finetune",
            "labels": 100, "seed": 0, "ap": 0.02, "pck": 0.3, "seconds": 1.0}
    ap = figures_table.tables({"cells": [cell, {**cell, "seed": 1}]})[0]
    assert ap.splitlines()[0] == "| keypoints, box-area OKS AP: initialisation | 100 finetune |"
    with pytest.raises(ValueError, match="mix APs scored on box areas"):
        figures_table.tables({"cells": [cell, {**cell, "seed": 1, "filled": {"area": 0}}]})


def test_the_figures_table_names_a_cell_without_its_pck(tmp_path):
    """The tables read each cell's PCK@0.1 too: a cells file whose cell lacks it ends in one line, nothing written."""
    from bench import figures_table

    cell = {"init": "scratch 2x2 unet", "task": "keypoints", "mode": "finetune", "labels": 100, "seed": 0,
            "seconds": 1.0, "ap": 0.02}
    path = transfer_table.cells_file("scratch-unet-2x2", "keypoints", "finetune", tmp_path)
    path.parent.mkdir()
    utils.save_json([cell], path)
    with pytest.raises(SystemExit) as stop:
        figures_table.main(["--runs", str(tmp_path), "--json", str(tmp_path / "out.json"), "--collect"])
    assert str(stop.value.code) == f"figures_table.py: error: {path}: cell 0 lacks pck, which a transfer.py cell has"
    assert not (tmp_path / "out.json").exists()
    utils.save_json([{**cell, "pck": 0.3}], path)
    figures_table.main(["--runs", str(tmp_path), "--json", str(tmp_path / "out.json"), "--collect"])
    assert [c["pck"] for c in utils.load_json(tmp_path / "out.json")["cells"]] == [0.3]


def test_the_figures_curve_measures_only_the_budgets_it_lacks(tmp_path, monkeypatch):
    from bench import figures_table

    cell = {"task": "keypoints", "labels": 1000, "mode": "finetune", "seed": 0, "val_ap": 0.2, "val_ap50": 0.7,
            "val_pck": 0.5, "seconds": 1.0, "cpu": "a CPU"}
    path = tmp_path / "cells" / "curve-scratch-unet-2x2-keypoints-finetune.json"
    path.parent.mkdir()
    utils.save_json([{**cell, "steps": figures_table.CURVE[0]}, {**cell, "steps": 3000}], path)
    trained = []

    def fake_run(command):
        steps = int(command[command.index("--steps") + 1])
        trained.append(steps)
        utils.save_json([{**cell, "steps": steps}], command[command.index("--json") + 1])

    monkeypatch.setattr(transfer_table, "run", fake_run)
    cells, table = figures_table.curve(tmp_path, collect=False)
    assert trained == figures_table.CURVE[1:]
    assert [c["steps"] for c in cells] == figures_table.CURVE  # a budget no longer in CURVE is not shown
    assert figures_table.curve(tmp_path, collect=True)[1] == table and trained == figures_table.CURVE[1:]
    utils.save_json([{**cell, "steps": 3000}], path)  # only a budget the curve no longer has
    with pytest.raises(ValueError, match="no cell of the curve is measured"):
        figures_table.curve(tmp_path, collect=True)


def test_fixed_crops_of_any_folder_are_made_as_the_test_crops_are(tmp_path):
    from PIL import Image

    from bench import photos

    (tmp_path / "mine" / "trip").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(tmp_path / "mine" / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (260, 180), dtype=np.uint8)).save(tmp_path / "mine" / "trip" / "b.png")
    assert photos.write_crops_of(tmp_path / "mine", tmp_path / "crops", 5, seed=0) == 10
    names = sorted(p.relative_to(tmp_path / "crops").as_posix() for p in (tmp_path / "crops").rglob("*.*"))
    assert names[:5] == ["a/000.jpg", "a/001.jpg", "a/002.jpg", "a/003.jpg", "a/004.png"]
    assert names[5] == "trip_b/000.jpg"
    sides = [max(Image.open(tmp_path / "crops" / name).size) for name in names]
    assert all(40 <= side <= 120 for side in sides)
