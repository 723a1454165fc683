"""read_image_folders: a zip of class folders becomes a PhotoSet; every bad archive is refused
with its own message or has its bad members skipped and counted; nothing touches the disk;
near-duplicate photos (re-saved, resized, cropped, burst shots of real photos) share a group."""

import io
import os
import re
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
from PIL import Image, ImageEnhance

from cnnviz import images
from cnnviz.train import DatasetError, read_image_folders
from cnnviz.train.transfer import near_duplicates
from cnnviz.train.transfer.group_split import grouped_split
from cnnviz.train.transfer.photo_set import MAX_SIDE


def png(seed: int, size=(40, 30)) -> bytes:
    """A small distinct photo-like image: smooth colours, as photos have."""
    coarse = np.random.default_rng(seed).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(coarse).resize(size, Image.BICUBIC).save(buffer, format="PNG")
    return buffer.getvalue()


def archive(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


def classes(spec: dict[str, int], root: str = "") -> dict[str, bytes]:
    """``spec`` class -> number of images, as archive entries."""
    return {f"{root}{name}/img{i}.png": png(hash((name, i)) % 2**32)
            for name, n in spec.items() for i in range(n)}


GOOD = classes({"red": 6, "black": 5, "alluvial": 7})


def refused(data: bytes, pattern: str, **limits) -> str:
    with pytest.raises(DatasetError) as err:
        read_image_folders(data, **limits)
    message = str(err.value)
    assert re.search(pattern, message), message
    return message


def test_a_good_archive_gives_sorted_classes_counts_and_decoded_photos():
    photos = read_image_folders(archive(GOOD))
    assert photos.classes == ("alluvial", "black", "red")
    assert photos.counts == {"alluvial": 7, "black": 5, "red": 6}
    assert len(photos) == 18 and photos.not_images == 0 and photos.undecodable == ()
    first = photos.images[0]
    assert first.mode == "RGB" and first.size == (40, 30)
    # Each photo is the uploaded one (PNG in, JPEG kept: equal up to compression).
    name = photos.names[0]
    original = np.asarray(Image.open(io.BytesIO(GOOD[name])).convert("RGB"), dtype=float)
    assert np.abs(np.asarray(first, dtype=float) - original).mean() < 2


def test_large_photos_are_kept_at_the_chapter_resize_size():
    big = {f"{c}/{i}.jpg": _jpeg((1200, 900), i) for c in ("a", "b") for i in range(5)}
    photos = read_image_folders(archive(big))
    assert photos.image(0).size == (round(1200 * MAX_SIDE / 900), MAX_SIDE)


def _jpeg(size, seed) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3),
                                                         dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_one_folder_wrapping_the_class_folders_is_looked_through():
    photos = read_image_folders(archive(classes({"red": 5, "black": 5}, root="soil/photos/")))
    assert photos.classes == ("black", "red")


@pytest.mark.parametrize("data, pattern", [
    (b"", r"empty \(0 bytes\)"),
    (b"just some text, not an archive\n" * 10, r"not a zip archive \(its contents are no archive"),
    (b"Rar!\x1a\x07\x00" + bytes(100), r"not a zip archive \(it is a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c" + bytes(100), r"7-Zip"),
    (b"\x1f\x8b\x08" + bytes(100), r"gzip-compressed"),
    (png(1), r"it is a single image"),
], ids=["empty", "text", "rar", "7z", "gzip", "image"])
def test_a_file_that_is_not_a_zip_is_refused(data, pattern):
    refused(data, pattern)


def test_a_damaged_zip_is_refused():
    data = bytearray(archive(GOOD))
    central = data.index(b"PK\x01\x02")
    data[central:central + 4] = b"XX\x01\x02"  # the central directory's first entry
    refused(bytes(data), r"damaged and cannot be read")


def test_an_empty_zip_is_refused():
    refused(archive({}), r"zip archive is empty")


def test_images_without_class_folders_are_refused():
    refused(archive({f"img{i}.png": png(i) for i in range(8)}),
            r"8 images but no class folders")


def test_an_archive_without_images_is_refused():
    refused(archive({"notes.txt": b"hello", "data.csv": b"1,2"}), r"contains no images")


def test_a_single_class_is_refused():
    refused(archive(classes({"red": 9})), r"only one class folder, 'red'.*at least two classes")


def test_a_class_with_fewer_than_five_images_is_named():
    message = refused(archive(classes({"red": 5, "black": 3, "desert": 4})),
                      r"at least 5 images")
    assert "'black' (3)" in message and "'desert' (4)" in message and "'red'" not in message


def test_undecodable_images_are_skipped_listed_and_counted_against_the_minimum():
    entries = classes({"red": 6, "black": 5})
    entries["black/broken.jpg"] = b"\xff\xd8\xff\xe0 this is not really a JPEG"
    entries["red/truncated.png"] = png(99)[:60]
    photos = read_image_folders(archive(entries))
    assert photos.counts == {"black": 5, "red": 6}
    assert sorted(s.name for s in photos.undecodable) == ["black/broken.jpg",
                                                          "red/truncated.png"]
    assert all(s.reason for s in photos.undecodable)
    entries.pop("black/img0.png")  # now black has 4 good images and 1 broken one
    message = refused(archive(entries), r"too few in 'black' \(4; 1 more could not be decoded\)")
    assert "red" not in message


def test_files_that_are_not_images_are_skipped_and_counted():
    entries = {**GOOD, "red/notes.txt": b"field notes", "black/survey.pdf": b"%PDF-1.4",
               "alluvial/readme": b"x"}
    photos = read_image_folders(archive(entries))
    assert photos.not_images == 3 and len(photos) == 18


def test_macos_and_hidden_junk_is_ignored():
    entries = {**GOOD,
               "__MACOSX/red/._img0.png": b"\x00\x05\x16\x07 AppleDouble",
               "red/._img1.png": b"\x00\x05\x16\x07 AppleDouble",
               ".DS_Store": b"\x00\x00\x00\x01Bud1",
               "black/.hidden/img.png": png(5),
               "Thumbs.db": b"\xd0\xcf\x11\xe0"}
    photos = read_image_folders(archive(entries))
    assert photos.classes == ("alluvial", "black", "red")  # no "__MACOSX" class
    assert photos.ignored == 5 and photos.undecodable == () and len(photos) == 18


@pytest.mark.parametrize("evil", ["../evil.png", "red/../../evil.png", "/tmp/evil.png",
                                  "C:\\Windows\\evil.png", "red\\..\\..\\evil.png"])
def test_paths_that_escape_the_folder_are_refused_and_nothing_is_written(evil, tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _listing(tmp_path) | _listing(Path(tempfile.gettempdir()))
    refused(archive({**GOOD, evil: png(7)}), r"path that leads outside its own folder")
    photos = read_image_folders(archive(GOOD))  # and a good one writes nothing either
    assert len(photos) == 18
    assert _listing(tmp_path) | _listing(Path(tempfile.gettempdir())) == before
    assert not (tmp_path.parent / "evil.png").exists()


def _listing(folder: Path) -> set[str]:
    return {entry.name for entry in os.scandir(folder)}


def test_too_many_entries_is_refused_before_reading_them():
    refused(archive(classes({"a": 15, "b": 15})), r"30 entries; the limit is 20", max_files=20)


def test_a_zip_bomb_is_refused_from_its_declared_size():
    bomb = archive({**GOOD, "red/zeros.bmp": bytes(5 * 2**20)})
    assert len(bomb) < 100_000  # 5 MiB of zeros deflate to a few KiB
    refused(bomb, r"would unpack to 5 MB; the limit is 2 MB.*zip bomb",
            max_unpacked_bytes=2 * 2**20)


def test_a_member_that_lies_about_its_size_is_never_read_past_its_declaration():
    """A bomb whose headers declare a small size: zipfile stops at the declared size, the
    CRC fails, and the member is listed as damaged instead of filling the memory."""
    data = bytearray(archive({**GOOD, "red/liar.png": bytes(2**20)}))
    declared = 1000
    local = data.index(b"red/liar.png") - 30  # local headers come first, name at offset 30
    central = data.index(b"red/liar.png", local + 31) - 46  # central entry, name at 46
    assert data[local:local + 4] == b"PK\x03\x04" and data[central:central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, local + 22, declared)  # uncompressed size
    struct.pack_into("<I", data, central + 24, declared)
    photos = read_image_folders(bytes(data))
    (liar,) = photos.undecodable
    assert liar.name == "red/liar.png" and "damaged inside the archive" in liar.reason


def test_progress_reports_every_image():
    seen = []
    read_image_folders(archive(GOOD), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (18, 18) and len(seen) == 18


def test_messages_are_distinct():
    """Each problem gets its own sentence, not one generic error."""
    cases = [b"", b"text" * 40, png(1), archive({}), archive({"a.png": png(1)}),
             archive({"n.txt": b"x"}), archive(classes({"a": 6})),
             archive(classes({"a": 6, "b": 2})), archive({**GOOD, "../x.png": png(2)})]
    messages = set()
    for data in cases:
        with pytest.raises(DatasetError) as err:
            read_image_folders(data)
        messages.add(str(err.value).split(".")[0])
    assert len(messages) == len(cases)


def test_every_image_format_the_app_reads_is_accepted():
    """The zip reader uses images.load_image, so what the photo pickers read is read here."""
    entries = {}
    for seed, (fmt, ext) in enumerate([("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"),
                                       ("BMP", "bmp"), ("TIFF", "tif"), ("WEBP", "webp")]):
        img = Image.open(io.BytesIO(png(seed, (24, 20))))  # a different photo for each
        buffer = io.BytesIO()
        img.save(buffer, format=fmt)
        entries.update({f"{c}/{fmt}.{ext}": buffer.getvalue() for c in ("x", "y")})
        images.load_image(buffer.getvalue())
    photos = read_image_folders(archive(entries), min_per_class=6)
    assert photos.counts == {"x": 6, "y": 6} and photos.undecodable == ()


# ------------------------------------------------------------------ near-duplicates
SAMPLES = sorted((images.ASSETS / "samples").glob("*.jpg"))


def jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def copies(img: Image.Image) -> dict[str, bytes]:
    """A photo and the near-duplicates a phone or a messaging app makes of it."""
    w, h = img.size
    return {
        "taken": jpeg(img),
        "resaved": jpeg(Image.open(io.BytesIO(jpeg(img, 40)))),
        "resized": jpeg(img.resize((w // 2, h // 2))),
        "cropped": jpeg(img.crop((w // 67, h // 67, w - w // 67, h - h // 67))),  # 3 %
        "brighter": jpeg(ImageEnhance.Brightness(img).enhance(1.2)),
        "burst": jpeg(img.crop((w // 50, 0, w, h))),  # the camera moved by 2 %
    }


def test_near_duplicates_of_real_photos_share_a_group_and_different_photos_do_not():
    """Seven sample photos, each with five near-duplicates. (The brick wall is left out: a
    crop shifts its repeating pattern beyond the hash's reach; see near_duplicates.)"""
    entries = {}
    for i, path in enumerate(p for p in SAMPLES if p.stem != "brick"):
        for kind, data in copies(Image.open(path)).items():
            entries[f"{'ab'[i % 2]}/{path.stem}_{kind}.jpg"] = data
    photos = read_image_folders(archive(entries))
    assert len(photos) == 6 * (len(SAMPLES) - 1)
    by_photo = {}
    for name, group in zip(photos.names, photos.groups):
        by_photo.setdefault(name.split("/")[1].rsplit("_", 1)[0], set()).add(int(group))
    assert all(len(groups) == 1 for groups in by_photo.values()), by_photo
    assert len({g for groups in by_photo.values() for g in groups}) == len(SAMPLES) - 1
    # ... so a split keeps every copy of a photo in one part.
    split = grouped_split(photos.labels, photos.groups)
    parts = [set(photos.groups[index]) for index in split.parts().values()]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_regions_of_one_photo_and_different_photos_stay_apart():
    """Quarters of the sample and texture photos (textures look alike everywhere) are
    different photos; none is taken for a near-duplicate of another."""
    pictures = [Image.open(p) for p in SAMPLES + sorted((images.ASSETS / "textures").glob("*"))]
    quarters = [img.crop((x, y, x + img.width // 2, y + img.height // 2)) for img in pictures
                for x in (0, img.width // 2) for y in (0, img.height // 2)]
    hashes = np.array([near_duplicates.phash(q) for q in quarters], dtype=np.uint64)
    apart = near_duplicates.distances(hashes, hashes)[np.triu_indices(len(hashes), 1)]
    assert apart.min() > near_duplicates.HAMMING_THRESHOLD


def test_the_hash_is_the_dct_of_the_shrunk_photo_as_scipy_computes_it():
    img = Image.open(SAMPLES[0])
    small = np.asarray(img.convert("L").resize((32, 32), Image.BILINEAR, reducing_gap=2.0),
                       dtype=np.float64)
    low = scipy.fft.dctn(small, norm="ortho")[:8, :8].ravel()[1:]
    expected = "".join("1" if c > np.median(low) else "0" for c in low)
    assert format(near_duplicates.phash(img), "063b") == expected


def test_a_chain_of_near_duplicates_is_one_group_and_classes_never_share_one():
    bits = (1 << near_duplicates.HAMMING_THRESHOLD) - 1  # as many ones as the threshold
    hashes = [0, bits, (bits << 20) | bits, 0, ((1 << 20) - 1) << 40]
    labels = [0, 0, 0, 1, 0]
    groups = near_duplicates.group(hashes, labels)
    assert groups[0] == groups[1] == groups[2]  # at the threshold, twice over: a chain
    assert groups[3] != groups[0]  # the same hash in another class is not grouped
    assert groups[4] != groups[0] and len(set(groups.tolist())) == 3


def test_a_class_of_near_duplicates_only_is_refused_by_name():
    img = Image.open(SAMPLES[0])
    entries = {**classes({"red": 6}),
               **{f"black/{kind}.jpg": data for kind, data in copies(img).items()}}
    refused(archive(entries), r"3 different photos.*'black' \(6 photos, 1 different\)")


def test_a_readme_beside_one_folder_of_class_folders_is_skipped():
    entries = {"README.txt": b"my soil photos", **classes({"red": 5, "black": 5}, "soil/")}
    photos = read_image_folders(archive(entries))
    assert photos.classes == ("black", "red") and photos.ignored == 1
