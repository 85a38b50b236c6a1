"""COCO-format keypoints (coco.py): reading, crops, heatmaps, decoding, and COCO's own evaluator."""

import json

import numpy as np
import pytest

import coco

NAMES = ["left_hand", "right_hand"]


def tiny_coco(folder, **changes):
    """Three images, two keypoint types, four instances (one with no labelled keypoint), written by hand."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, (width, height) in enumerate([(64, 48), (40, 60), (50, 50)], start=1):
        pixels = np.random.default_rng(i).integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image{i}.png")
    dataset = {
        "images": [{"id": 1, "file_name": "image1.png", "width": 64, "height": 48},
                   {"id": 2, "file_name": "image2.png", "width": 40, "height": 60},
                   {"id": 3, "file_name": "image3.png", "width": 50, "height": 50}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 8, 20, 30], "iscrowd": 0,
             "keypoints": [12, 10, 2, 27, 35, 2], "num_keypoints": 2},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [35, 5, 25, 20], "iscrowd": 0,
             "keypoints": [40, 9, 2, 0, 0, 0], "num_keypoints": 1},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [5, 10, 30, 45], "iscrowd": 0,
             "keypoints": [8, 50, 1, 30, 12, 2], "num_keypoints": 2},
            {"id": 13, "image_id": 3, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0,
             "keypoints": [0, 0, 0, 0, 0, 0], "num_keypoints": 0},
        ],
        "categories": [{"id": 1, "name": "figure", "keypoints": NAMES, "skeleton": [[1, 2]]}],
    }
    for key, value in changes.items():
        dataset[key] = value
    path = folder / "keypoints.json"
    path.write_text(json.dumps(dataset))
    return path


def test_a_coco_file_is_read_with_its_names_instances_and_skipped_count(tmp_path):
    keypoints = coco.load(tiny_coco(tmp_path))
    assert keypoints.names == tuple(NAMES) and len(keypoints) == 3
    assert keypoints.skipped == {"no_labelled_keypoint": 1, "crowd": 0}
    assert keypoints.ann_ids.tolist() == [10, 11, 12] and keypoints.image_ids.tolist() == [1, 1, 2]
    assert keypoints.keypoints.shape == (3, 2, 3)


@pytest.mark.parametrize("shape", [(32, 32), (48, 32), (24, 40)])
def test_crop_heatmaps_and_decoding_round_trip_to_the_image_keypoints(tmp_path, shape):
    keypoints = coco.load(tiny_coco(tmp_path))
    images, points, regions = coco.crops(keypoints, shape, channels=3)
    assert images.shape == (3, *shape, 3) and images.dtype == np.uint8
    regions_w, regions_h = regions[:, 2] - regions[:, 0], regions[:, 3] - regions[:, 1]
    np.testing.assert_allclose(regions_w / regions_h, shape[1] / shape[0])  # the network's aspect ratio
    assert (regions_w >= coco.BOX_SCALE * keypoints.boxes[:, 2] - 1e-9).all()
    maps = coco.heatmaps(points, shape, sigma=2.0)
    assert maps.shape == (3, *shape, 2)
    assert (maps[1, ..., 1] == coco.UNLABELLED).all()  # instance 11's right hand is not labelled
    assert maps[0].max() > 0.9 and maps[0].min() >= 0
    found, peaks = coco.decode(maps)
    back = coco.to_image(found, regions, shape)
    labelled = keypoints.keypoints[..., 2] > 0
    pixel = (regions_w / shape[1])[:, None, None]  # one crop pixel, in image pixels
    error = np.abs(back - keypoints.keypoints[..., :2])
    assert (error[labelled] <= 0.5 * np.broadcast_to(pixel, error.shape)[labelled] + 1e-9).all()


def test_perfect_predictions_score_an_ap_of_one_and_shifted_ones_less(tmp_path):
    keypoints = coco.load(tiny_coco(tmp_path))
    confidences = np.ones((3, 2))
    perfect = coco.score(keypoints, keypoints.keypoints[..., :2], confidences)
    assert perfect["ap"] == pytest.approx(1.0) and perfect["ap50"] == pytest.approx(1.0)
    assert perfect["pck"] == 1.0 and perfect["pck_per_keypoint"] == {"left_hand": 1.0, "right_hand": 1.0}
    shifted = coco.score(keypoints, keypoints.keypoints[..., :2] + 3.0, confidences)
    assert 0 <= shifted["ap"] < 1.0 and shifted["ap"] < shifted["ap50"] <= 1.0
    assert shifted["pck"] < 1.0  # 4.2 px off is more than a tenth of the 25 px box


def cocoeval_on_the_file(path, predictions, names):
    """COCO's evaluator run directly on an annotation file and a results list, as a user would run it."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(path))
        evaluation = COCOeval(truth, truth.loadRes(predictions), iouType="keypoints")
        evaluation.params.kpt_oks_sigmas = coco.oks_sigmas(names)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [max(float(v), 0.0) for v in evaluation.stats[:3]]


# Areas far below the boxes' (10 x 20 = 200, 25 x 20 = 500, ...), as COCO's segmentation areas are; a crowd
# region over image 2 and an unlabelled instance, which COCOeval ignores.
OWN_AREAS = [{"area": 60.0}, {"area": 90.0}, {"area": 300.0}, {"area": 40.0}]
CROWD = {"id": 14, "image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 20], "area": 500.0, "iscrowd": 1,
         "keypoints": [0, 0, 0, 0, 0, 0], "num_keypoints": 0}


@pytest.mark.parametrize("shift", [0.0, 1.5, 3.0])
def test_oks_ap_is_cocoeval_on_the_file_itself_not_on_box_areas(tmp_path, shift):
    path = tiny_coco(tmp_path)
    dataset = json.loads(path.read_text())
    for annotation, own in zip(dataset["annotations"], OWN_AREAS, strict=True):
        annotation.update(own)
    dataset["annotations"].append(CROWD)
    path.write_text(json.dumps(dataset))
    keypoints = coco.load(path)
    points = keypoints.keypoints[..., :2] + shift
    predictions = coco.results(keypoints, points, np.full((3, 2), 0.9))
    ours = coco.score(keypoints, points, np.full((3, 2), 0.9))
    expected = cocoeval_on_the_file(path, predictions, keypoints.names)
    assert [ours["ap"], ours["ap50"], ours["ap75"]] == pytest.approx(expected)
    assert keypoints.filled == dict.fromkeys(coco.FILLED, 0)
    if shift == 1.5:
        # The same predictions scored on box areas: more lenient, the error the file's own areas avoid.
        for annotation in dataset["annotations"]:
            annotation["area"] = annotation["bbox"][2] * annotation["bbox"][3]
        path.write_text(json.dumps(dataset))
        assert cocoeval_on_the_file(path, predictions, keypoints.names)[0] > ours["ap"]


def test_fields_a_file_leaves_out_are_filled_and_counted(tmp_path):
    annotations = json.loads(tiny_coco(tmp_path).read_text())["annotations"]  # written without an area
    del annotations[0]["num_keypoints"], annotations[1]["iscrowd"]
    keypoints = coco.load(tiny_coco(tmp_path, annotations=annotations))
    assert keypoints.filled == {"area": 4, "bbox": 0, "iscrowd": 1, "num_keypoints": 1}
    truth = {a["id"]: a for a in keypoints.ground_truth()["annotations"]}
    assert truth[10]["area"] == 20 * 30 and truth[10]["num_keypoints"] == 2 and truth[11]["iscrowd"] == 0
    perfect = coco.score(keypoints, keypoints.keypoints[..., :2], np.ones((3, 2)))
    assert perfect["ap"] == pytest.approx(1.0)


def test_an_area_that_is_not_a_number_is_named(tmp_path):
    annotations = json.loads(tiny_coco(tmp_path).read_text())["annotations"]
    annotations[1]["area"] = "big"
    with pytest.raises(ValueError, match="annotation 11: its area must be a number"):
        coco.load(tiny_coco(tmp_path, annotations=annotations))


def test_a_subset_is_scored_against_its_own_instances_only(tmp_path):
    keypoints = coco.load(tiny_coco(tmp_path))
    first = keypoints.subset([0])  # instance 10 of image 1; instance 11, there too, belongs to another subset
    assert sorted(a["id"] for a in first.ground_truth()["annotations"]) == [10]
    assert coco.score(first, first.keypoints[..., :2], np.ones((1, 2)))["ap"] == pytest.approx(1.0)


def test_predictions_are_written_in_coco_results_format(tmp_path):
    keypoints = coco.load(tiny_coco(tmp_path))
    out = coco.results(keypoints, keypoints.keypoints[..., :2], np.full((3, 2), 0.5))
    assert [r["image_id"] for r in out] == [1, 1, 2] and all(r["category_id"] == 1 for r in out)
    assert out[0]["keypoints"] == [12.0, 10.0, 0.5, 27.0, 35.0, 0.5] and out[0]["score"] == 0.5
    json.dumps(out)  # plain JSON


def test_a_flip_swaps_left_and_right_and_mirrors_the_crop(tmp_path):
    keypoints = coco.load(tiny_coco(tmp_path))
    plain, points, _ = coco.crops(keypoints, (32, 32), index=[0])
    flipped, mirrored, _ = coco.crops(keypoints, (32, 32), index=[0], flip=[True])
    np.testing.assert_array_equal(flipped[0], plain[0][:, ::-1])
    np.testing.assert_allclose(mirrored[0, 0, 0], 32 - points[0, 1, 0])  # left hand <- mirrored right hand
    np.testing.assert_allclose(mirrored[0, 1, :2], [32 - points[0, 0, 0], points[0, 0, 1]])
    assert coco.flip_pairs(coco.COCO_KEYPOINTS).tolist()[:5] == [0, 2, 1, 4, 3]


def test_oks_sigmas_are_coco_s_for_its_names_and_checked_in_length():
    assert coco.oks_sigmas(coco.COCO_KEYPOINTS)[0] == 0.026
    assert (coco.oks_sigmas(NAMES) == coco.DEFAULT_OKS_SIGMA).all()
    with pytest.raises(ValueError, match="one positive number per keypoint .2: left_hand, right_hand., got 3"):
        coco.oks_sigmas(NAMES, [0.1, 0.1, 0.1])


@pytest.mark.parametrize("changes, message", [
    ({"categories": [{"id": 1, "name": "figure"}]}, "not COCO keypoints: no category lists its 'keypoints'"),
    ({"annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "keypoints": [1, 2, 2]}]},
     "annotation 5: its keypoints must be 6 numbers"),
    ({"annotations": [{"id": 6, "image_id": 1, "category_id": 1, "bbox": [100, 1, 5, 5],
                       "keypoints": [1, 2, 2, 0, 0, 0]}]}, "annotation 6: its bbox .* lies outside its 64x48 image"),
    ({"annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 5],
                       "keypoints": [1, 2, 2, 0, 0, 0]}]}, "annotation 7: its bbox must be"),
    ({"annotations": [{"id": 8, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5],
                       "keypoints": [0, 0, 0, 0, 0, 0]}]}, "no instance with a labelled keypoint"),
    ({"images": "none"}, "not a COCO annotation file"),
])
def test_bad_annotation_files_are_named_in_one_line(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message) as error:
        coco.load(tiny_coco(tmp_path, **changes))
    assert "\n" not in str(error.value)


def test_missing_images_are_named_with_their_count(tmp_path):
    path = tiny_coco(tmp_path)
    (tmp_path / "image2.png").unlink()
    with pytest.raises(FileNotFoundError, match="1 image.s. that keypoints.json names are not in .*, the first: "
                                                "image2.png"):
        coco.load(path)
    with pytest.raises(FileNotFoundError, match="no such annotation file"):
        coco.load(tmp_path / "missing.json")


def test_the_figure_generator_writes_the_same_coco_set_for_the_same_seed(tmp_path):
    from sample import figures

    first = figures.write(tmp_path / "a", 12, seed=3, size=64)
    again = figures.write(tmp_path / "b", 12, seed=3, size=64)
    other = figures.write(tmp_path / "c", 12, seed=4, size=64)
    assert first.read_text() == again.read_text() != other.read_text()
    assert (tmp_path / "a/images/000011.jpg").read_bytes() == (tmp_path / "b/images/000011.jpg").read_bytes()
    keypoints = coco.load(first)  # its images are named relative to its folder
    assert keypoints.names == coco.COCO_KEYPOINTS and len(keypoints) >= 12
    inside = (keypoints.keypoints[..., :2] >= 0).all(-1) & (keypoints.keypoints[..., :2] < 64).all(-1)
    labelled = keypoints.keypoints[..., 2] > 0
    assert (inside[labelled]).all()  # a labelled keypoint lies in its image; v = 0 outside it
    boxes = keypoints.boxes
    assert (boxes[:, :2] >= 0).all() and (boxes[:, :2] + boxes[:, 2:] <= 64).all()


def test_generated_figures_leave_the_frame_and_cover_each_other_sometimes():
    from sample import figures

    visibility = np.concatenate([figure["keypoints"][:, 2] for seed in range(40)
                                 for figure in figures.make_image([0, seed], 64)[1]])
    assert {0, 1, 2} <= set(visibility.tolist())
