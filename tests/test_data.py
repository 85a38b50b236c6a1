"""data.py: every kind of --data, the size rule, channels, streaming, and what is wrong with bad input."""

import pathlib
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

import data
import utils


def save(folder, name, array, mode=None, **kwargs):
    """Writes one image file (creating its folder) and returns its path."""
    path = pathlib.Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(path, **kwargs)
    return path


def gradient(height, width, channels=3, seed=0):
    """A smooth colour image: small as a JPEG, and no two of its pieces alike."""
    rows, cols = np.mgrid[0:height, 0:width]
    planes = [(rows * 255 // max(1, height - 1)), (cols * 255 // max(1, width - 1)), ((rows + cols + 40 * seed) % 256)]
    return np.stack(planes[:channels], axis=-1).astype(np.uint8) if channels > 1 else planes[0].astype(np.uint8)


@pytest.fixture
def mixed_folder(tmp_path):
    """Twelve images of every format and mode the issue names, of many sizes, in nested folders."""
    folder = tmp_path / "photos"
    save(folder, "a/rgb.png", gradient(40, 60))
    save(folder, "a/gray.png", gradient(50, 30, 1))
    save(folder, "a/rgba.png", np.dstack([gradient(33, 33), np.full((33, 33), 128, np.uint8)]))
    save(folder, "b/palette.gif", gradient(64, 48), mode="P")
    save(folder, "b/photo.jpg", gradient(120, 90), quality=90)
    save(folder, "b/photo.JPEG", gradient(20, 25), quality=90)
    save(folder, "c/bitmap.bmp", gradient(30, 30))
    save(folder, "c/scan.tif", gradient(45, 70))
    save(folder, "c/deep/tall.png", gradient(200, 21))
    save(folder, "c/deep/wide.png", gradient(21, 200))
    Image.fromarray(gradient(40, 40, 1).astype(np.uint16) * 257).save(folder / "c" / "sixteen.png")  # 16-bit
    save(folder, "small.png", gradient(8, 8))
    return folder


def test_a_folder_of_mixed_images_comes_out_at_one_size_in_colour(mixed_folder):
    source = data.open_images(mixed_folder, image_size=24, grid=3)
    assert source.kind == "folder" and source.streamed and source.channels == 3
    assert len(source.train) + len(source.test) == 12 and len(source.test) == 1  # a tenth, at least one
    every = np.concatenate([source.train.load(), source.test.load()])
    assert every.shape == (12, 24, 24, 3) and every.dtype == np.uint8
    assert source.skipped == {"not_images": 0, "unreadable": 0}


def test_the_size_is_rounded_down_to_a_multiple_of_the_grid_so_no_piece_holds_padding(mixed_folder):
    assert data.grid_size(50, 3) == (48, 48) and data.grid_size("50x64", (3, 5)) == (48, 60)
    source = data.open_images(mixed_folder, image_size=50, grid=3)
    assert source.image_shape == (48, 48)
    assert utils.padded_shape(source.image_shape, 3) == source.image_shape


@pytest.mark.parametrize("size, grid", [(5, 3), ("48x3", 2), (13, 7)])
def test_a_size_the_grid_cannot_cut_into_pieces_of_two_pixels_is_an_error(size, grid):
    with pytest.raises(ValueError, match="leaves pieces under 2 px a side"):
        data.grid_size(size, grid)


@pytest.mark.parametrize("size", ["0", "x", "48x", "4.5", "-3", "48x64x2"])
def test_a_malformed_image_size_is_an_error(size):
    with pytest.raises(ValueError, match="--image-size must be a size in pixels"):
        data.parse_image_size(size)


def test_the_size_rule_covers_then_crops_at_the_centre():
    # A 20x60 image whose three 20x20 thirds are 0, 100 and 200: brought to 10x10, only the middle is left.
    image = np.repeat(np.array([0, 100, 200], np.uint8), 20)[None, :].repeat(20, axis=0)
    out = data.fit_image(image, (10, 10), 1)  # (the resampling filter reaches one pixel past the box's edges)
    assert out.shape == (10, 10) and (out[:, 1:9] == 100).all() and (abs(out.astype(int) - 100) < 15).all()
    # The same image brought to 10x30 keeps its aspect ratio: nothing is cropped, each third 10 px wide.
    out = data.fit_image(image, (10, 30), 1)
    assert (out[:, 1:9] == 0).all() and (out[:, 11:19] == 100).all() and (out[:, 21:29] == 200).all()


def test_grayscale_folders_give_one_channel_and_channels_can_be_asked_for(tmp_path):
    for i in range(3):
        save(tmp_path, f"{i}.png", gradient(30, 30, 1, seed=i))
    gray = data.open_images(tmp_path, image_size=12, grid=2)
    assert gray.channels == 1 and gray.train.load().shape == (2, 12, 12)
    colour = data.open_images(tmp_path, image_size=12, grid=2, channels=3)
    rgb = colour.train.load()
    assert rgb.shape == (2, 12, 12, 3) and (rgb[..., 0] == rgb[..., 1]).all()
    with pytest.raises(ValueError, match="--channels must be 1 or 3"):
        data.open_images(tmp_path, channels=2)


def test_sixteen_bit_images_keep_their_top_eight_bits(tmp_path):
    Image.fromarray(np.full((10, 10), 65535, np.uint16)).save(tmp_path / "white.png")
    Image.fromarray(np.full((10, 10), 32896, np.uint16)).save(tmp_path / "grey.png")  # 128 * 257
    images = data.open_images(tmp_path, image_size=10, grid=2)
    every = np.concatenate([images.train.load(), images.test.load()])
    assert images.channels == 1 and sorted(every.reshape(2, -1).max(axis=1)) == [128, 255]


def test_alpha_is_composited_over_black(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :4, 3] = 255  # left half opaque red, right half transparent
    out = data.fit_image(Image.fromarray(rgba, "RGBA"), (8, 8), 3)
    assert (out[:, :4, 0] == 200).all() and (out[:, 4:] == 0).all()


def test_files_that_are_not_images_are_skipped_and_counted(mixed_folder):
    (mixed_folder / "notes.txt").write_text("not an image")
    (mixed_folder / "a" / "labels.csv").write_text("x,y\n")
    with pytest.warns(UserWarning, match="skipping 2 file"):
        source = data.open_images(mixed_folder, image_size=24, grid=3)
    assert source.skipped == {"not_images": 2, "unreadable": 0}
    with pytest.raises(ValueError, match="--strict: .* is not a readable image"):
        data.open_images(mixed_folder, image_size=24, grid=3, strict=True)


def test_an_image_file_whose_header_is_broken_is_skipped_and_counted(mixed_folder):
    (mixed_folder / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.warns(UserWarning, match="skipping 1 image"):
        source = data.open_images(mixed_folder, image_size=24, grid=3)
    assert source.skipped == {"not_images": 0, "unreadable": 1}
    assert len(source.train) + len(source.test) == 12


def test_a_truncated_image_is_named_skipped_and_counted_or_with_strict_an_error(tmp_path):
    for i in range(4):
        save(tmp_path, f"{i}.jpg", gradient(64, 64, seed=i), quality=95)
    whole = (tmp_path / "1.jpg").read_bytes()
    (tmp_path / "1.jpg").write_bytes(whole[: len(whole) // 2])  # its header reads, its pixels do not
    files = data.open_images(tmp_path, image_size=16, grid=2).train.subset([0, 1, 2])
    with pytest.warns(UserWarning, match=r"skipping .*1\.jpg: it cannot be decoded"):
        batch = files[[0, 1, 2]]
    assert batch.shape == (3, 16, 16, 3) and files.unreadable.keys() == {"1.jpg"}
    np.testing.assert_array_equal(batch[1], batch[2])  # its place taken by the next file that decodes
    strict = data.open_images(tmp_path, image_size=16, grid=2, strict=True).train
    with pytest.raises(ValueError, match=r"1\.jpg cannot be decoded"):
        strict.load()


def test_a_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="holds no images"), pytest.warns(UserWarning):
        data.open_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="no data at"):
        data.open_images(tmp_path / "missing")


def test_image_files_index_like_an_array_and_decode_the_same_every_time(mixed_folder):
    files = data.open_images(mixed_folder, image_size=24, grid=3).train
    every = files.load()
    np.testing.assert_array_equal(files[[3, 0, 3]], every[[3, 0, 3]])
    np.testing.assert_array_equal(files[2:5], every[2:5])
    np.testing.assert_array_equal(files.subset([4, 1]).load(), every[[4, 1]])


def test_a_folder_s_fingerprint_follows_its_files_and_the_size(mixed_folder):
    first = data.open_images(mixed_folder, image_size=24, grid=3).fingerprint
    assert data.open_images(mixed_folder, image_size=24, grid=3).fingerprint == first
    assert data.open_images(mixed_folder, image_size=30, grid=3).fingerprint != first
    save(mixed_folder, "a/rgb.png", gradient(41, 60))  # the same name, other bytes
    assert data.open_images(mixed_folder, image_size=24, grid=3).fingerprint != first


@pytest.mark.parametrize("shape", [(30, 20, 20), (30, 20, 20, 1), (30, 20, 20, 3), (30, 20, 20, 4)])
def test_an_npy_of_images_is_split_and_brought_to_the_grid(tmp_path, shape):
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    source = data.open_images(tmp_path / "x.npy", grid=3)
    assert source.kind == "array" and len(source.train) == 27 and len(source.test) == 3
    channels = 1 if len(shape) == 3 or shape[3] == 1 else 3
    assert source.channels == channels and source.image_shape == (18, 18)
    assert source.train.shape[1:] == ((18, 18) if channels == 1 else (18, 18, 3))


def test_an_npz_of_images_holds_train_and_test_or_one_array(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "two.npz", x_train=rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8),
             x_test=rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8))
    np.savez(tmp_path / "one.npz", x=rng.integers(0, 256, (20, 16, 16), dtype=np.uint8))
    two = data.open_images(tmp_path / "two.npz", grid=2)
    assert (len(two.train), len(two.test), two.channels) == (8, 4, 3)
    one = data.open_images(tmp_path / "one.npz", grid=2)
    assert (len(one.train), len(one.test), one.channels) == (18, 2, 1)
    np.savez(tmp_path / "other.npz", images=rng.integers(0, 256, (4, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="neither x_train and x_test nor one array x"):
        data.open_images(tmp_path / "other.npz")


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 8, 8), np.float32), "must be uint8"),
    (np.zeros((4, 8, 8), np.uint16), "must be uint8"),
    (np.zeros((8, 8), np.uint8), r"must have shape \(N, H, W\) or \(N, H, W, C\)"),
    (np.zeros((4, 8, 8, 2), np.uint8), "with C 1, 3 or 4"),
])
def test_an_npy_of_the_wrong_dtype_or_rank_is_an_error(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match=message):
        data.open_images(tmp_path / "bad.npy")


def test_mnist_keeps_its_own_size_and_today_s_fingerprint():
    source = data.open_images("sample", grid=3)
    (x_train, y_train), (x_test, _) = utils.load_mnist("sample")
    assert source.kind == "mnist" and source.train is x_train or np.array_equal(source.train, x_train)
    assert source.image_shape == (28, 28) and source.channels == 1
    assert source.fingerprint == utils.digits_fingerprint(x_train)
    np.testing.assert_array_equal(source.labels[0], y_train)
    assert data.open_images("sample", image_size=27, grid=3).train.shape == (3000, 27, 27)


def test_the_bundled_photos_are_colour_and_about_two_hundred():
    source = data.open_images("photos", image_size=48, grid=3)
    assert source.channels == 3 and 180 <= len(source.train) + len(source.test) <= 220
    assert source.skipped == {"not_images": 0, "unreadable": 0}


@pytest.mark.skipif(platform.system() != "Linux", reason="reads the peak memory from /proc/self/status")
@pytest.mark.parametrize("suffix, bound_mb", [
    ("jpg", 192 / 4),  # JPEG decodes at a reduced scale (Pillow's draft mode): a fraction of the pixels
    ("png", 192 * 1.5),  # PNG decodes whole, once: its pixels and less than half again for the resize
])
def test_a_very_large_image_is_decoded_within_bounded_memory(tmp_path, suffix, bound_mb):
    """One 8,000 x 8,000 RGB image (192 MB of pixels) brought to 48 px: the peak RSS it adds is bounded."""
    Image.linear_gradient("L").resize((8000, 8000)).convert("RGB").save(tmp_path / f"huge.{suffix}")
    save(tmp_path, "small.png", gradient(64, 64))
    # The peak is the process's VmHWM (KiB), which starts afresh in a new program: ru_maxrss would
    # start at the peak of this process, which made the image.
    script = textwrap.dedent(f"""
        import re, sys
        sys.path.insert(0, {str(ROOT)!r})
        import data

        def peak():
            return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))

        files = data.open_images({str(tmp_path)!r}, image_size=48, grid=3).train
        files.decode("small.png")  # everything imported and warmed up
        before = peak()
        out = files.decode("huge.{suffix}")
        print(before, peak(), *out.shape)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before, after, *shape = (int(v) for v in out.split())
    grew_mb = (after - before) / 1024
    print(f"peak RSS grew by {grew_mb:.1f} MB decoding an 8,000 x 8,000 {suffix} to 48 px")
    assert shape == [48, 48, 3] and grew_mb < bound_mb
