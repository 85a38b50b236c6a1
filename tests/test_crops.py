"""The random-crop feed (crops.py): repeatable, inside the image, upright, and open about what it skips."""

import warnings

import numpy as np
import pytest
from PIL import Image

import crops
import data


def gradient_photo(height, width):
    """A smooth colour image whose every pixel differs: ``(H, W, 3)`` uint8."""
    y, x = np.mgrid[:height, :width]
    return np.stack([y * 255 // max(1, height - 1), x * 255 // max(1, width - 1), (x + y) % 256], -1).astype(np.uint8)


@pytest.fixture
def folder(tmp_path):
    """Three photographs of different sizes and formats."""
    Image.fromarray(gradient_photo(300, 400)).save(tmp_path / "a.png")
    Image.fromarray(gradient_photo(500, 200)).save(tmp_path / "b.jpg", quality=95)
    Image.fromarray(gradient_photo(120, 160)).convert("P").save(tmp_path / "c.gif")
    return tmp_path


def feed(folder, size=(48, 48), **kwargs):
    files, _, _ = data.list_images(folder)
    return crops.RandomCrops(data.ImageFiles(folder, files, size, 3), size, 3, **kwargs)


@pytest.mark.parametrize("size", [(48, 48), (32, 48)])
def test_a_draw_is_a_pure_function_of_seed_epoch_and_index(folder, size):
    a, b = feed(folder, size, per_epoch=16, seed=3), feed(folder, size, per_epoch=16, seed=3)
    first = a.draw(0, np.arange(16))
    assert first.shape == (16, *size, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, b.draw(0, np.arange(16)))  # another object, the same crops
    np.testing.assert_array_equal(first[5:9], a.draw(0, [5, 6, 7, 8]))  # any subset, any order of asking
    assert not np.array_equal(first, a.draw(1, np.arange(16)))  # a new epoch: new crops
    assert not np.array_equal(first, feed(folder, size, per_epoch=16, seed=4).draw(0, np.arange(16)))
    np.testing.assert_array_equal(a.fixed(5), b.fixed(5))  # validation crops: fixed by the seed


@pytest.mark.parametrize("height, width", [(48, 48), (49, 300), (1000, 60), (333, 777)])
def test_a_crop_box_never_leaves_the_image_and_never_falls_under_the_crop_size(height, width):
    rng = np.random.default_rng(0)
    for _ in range(500):
        top, left, box_h, box_w = crops.crop_box(rng, height, width, least=48)
        assert 0 <= top and top + box_h <= height and 0 <= left and left + box_w <= width
        assert min(box_h, box_w) >= 48


def test_crops_are_pieces_of_the_image_not_padding(tmp_path):
    # Every crop of a smooth gradient is smooth: no blank strip, no wrap-around.
    Image.fromarray(gradient_photo(300, 400)).save(tmp_path / "a.png")
    Image.fromarray(gradient_photo(60, 500)).save(tmp_path / "b.png")
    out = feed(tmp_path, per_epoch=64, seed=0).draw(0, np.arange(64)).astype(int)
    steps = np.abs(np.diff(out[..., :2], axis=1)).max(), np.abs(np.diff(out[..., :2], axis=2)).max()
    assert max(steps) < 40


@pytest.mark.parametrize("jitter, gray", [(0.0, 0.0), (0.9, 0.0), (0.5, 1.0)])
def test_augmented_crops_stay_eight_bit_and_gray_ones_have_equal_channels(folder, jitter, gray):
    out = feed(folder, per_epoch=32, jitter=jitter, gray=gray).draw(0, np.arange(32))
    assert out.dtype == np.uint8 and out.shape == (32, 48, 48, 3)
    if gray == 1.0:
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_exif_orientation_is_honoured(tmp_path):
    # Stored landscape, tagged "rotate 90 degrees clockwise to view" (orientation 6), as phones save portraits.
    stored = np.zeros((120, 200, 3), np.uint8)
    stored[:, :20] = 255  # the stored left edge: upright, it is the top
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = np.asarray(crops.open_photograph(tmp_path / "phone.jpg", 3))
    assert upright.shape == (200, 120, 3)
    assert upright[:15].mean() > 200 and upright[30:].mean() < 30
    one = feed(tmp_path, size=(110, 110), per_epoch=4)  # fits the upright 200x120 image (shorter side 120)
    assert one.skipped == {"too_small": 0, "unreadable": 0}
    assert one.draw(0, [0, 1]).shape == (2, 110, 110, 3)


def test_cmyk_and_an_animated_gif_s_first_frame_come_out_rgb(tmp_path):
    Image.fromarray(gradient_photo(100, 100)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    frames = [Image.new("RGB", (100, 100), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert crops.open_photograph(tmp_path / "cmyk.jpg", 3).mode == "RGB"
    first = np.asarray(crops.open_photograph(tmp_path / "anim.gif", 3))
    assert first[..., 0].mean() > 200 and first[..., 2].mean() < 50  # red, the first frame


def test_photographs_too_small_to_crop_are_named_and_counted(folder):
    Image.fromarray(gradient_photo(40, 400)).save(folder / "thin.png")
    with pytest.warns(UserWarning, match=r"skipping 1 image\(s\) smaller than the crop.*thin.png"):
        one = feed(folder, per_epoch=8)
    assert one.skipped == {"too_small": 1, "unreadable": 0}
    assert one.draw(0, np.arange(8)).shape == (8, 48, 48, 3)


def test_no_photograph_large_enough_is_an_error(tmp_path):
    Image.fromarray(gradient_photo(30, 30)).save(tmp_path / "tiny.png")
    with warnings.catch_warnings(), pytest.raises(ValueError, match="no image can be cropped to 48x48 px"):
        warnings.simplefilter("ignore")
        feed(tmp_path)


def test_a_photograph_that_cannot_be_decoded_is_named_counted_and_replaced(folder):
    good = (folder / "b.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(good[: len(good) // 3])  # its header reads, its pixels do not
    one = feed(folder, per_epoch=64)
    with pytest.warns(UserWarning, match="skipping broken.jpg: it cannot be decoded"):
        out = one.draw(0, np.arange(64))
    assert out.shape == (64, 48, 48, 3) and one.skipped["unreadable"] == 1


def test_the_cache_of_decoded_photographs_stays_within_its_bound(folder):
    one = feed(folder, per_epoch=64, cache_mb=0.3)  # room for about one reduced photograph (320 px a side)
    one.draw(0, np.arange(64))
    assert len(one._cache) == 1 or one._cached_bytes <= 0.3 * 2**20


@pytest.mark.parametrize("bad, message", [({"per_epoch": 0}, "crops-per-epoch"), ({"jitter": 1.0}, "jitter"),
                                          ({"gray": 1.5}, "gray")])
def test_bad_settings_are_named(folder, bad, message):
    with pytest.raises(ValueError, match=message):
        feed(folder, **bad)


def test_an_array_of_large_images_crops_like_a_folder():
    images = np.stack([gradient_photo(200, 200)] * 3)
    one = crops.RandomCrops(images, (48, 48), 3, per_epoch=8, seed=1)
    assert one.draw(0, np.arange(8)).shape == (8, 48, 48, 3)
    gray = crops.RandomCrops(images[..., 0], (32, 32), 1, per_epoch=8)
    assert gray.draw(2, np.arange(8)).shape == (8, 32, 32)
