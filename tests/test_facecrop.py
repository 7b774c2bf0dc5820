"""Reading uploads safely and finding faces: bad files become readable errors, crops copy the training framing."""

import numpy as np
import pytest
from PIL import Image

from genmodels.facecrop import FRAMING_SIDE, MAX_PIXELS, Box, centre_square, crop, detect_faces, framing, read_image

from .conftest import png_header, schematic_face, two_face_photo


def saved(tmp_path, image: Image.Image, name: str = "upload.png", **options) -> str:
    path = tmp_path / name
    image.save(path, **options)
    return str(path)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "CMYK", "1"])
def test_any_mode_becomes_rgb(tmp_path, mode):
    image = Image.new("RGB", (40, 30), (200, 100, 50)).convert(mode)
    name = "upload.jpg" if mode == "CMYK" else "upload.png"
    out = read_image(saved(tmp_path, image, name))
    assert out.mode == "RGB" and out.size == (40, 30)


def test_transparency_is_laid_on_white(tmp_path):
    out = read_image(saved(tmp_path, Image.new("RGBA", (20, 20), (0, 0, 0, 0))))
    assert out.getpixel((5, 5)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (60, 30), "red")
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    out = read_image(saved(tmp_path, image, "upload.jpg", exif=exif))
    assert out.size == (30, 60)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"this is not a picture at all", "not an image we can read"),
    (png_header(8000, 6000), "too large"),  # 48 MP: refused from the header, before decoding
    (png_header(30000, 30000), "too large"),  # 900 MP: PIL's own bomb guard
    (png_header(20000, 20000)[:-30], "not an image|damaged"),  # truncated
])  # fmt: skip
def test_bad_files_raise_readable_errors(tmp_path, content, message):
    path = tmp_path / "upload.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_image(str(path))


def test_damaged_pixel_data_is_reported(tmp_path):
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), "blue").save(good)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="damaged|not an image"):
        read_image(str(tmp_path / "cut.jpg"))


def test_tiny_images_are_refused():
    with pytest.raises(ValueError, match="too small"):
        read_image(Image.new("RGB", (1, 1)))
    assert MAX_PIXELS >= 24_000_000  # a 24 MP phone photo is fine


def test_two_faces_are_found_largest_first():
    faces = detect_faces(two_face_photo())
    assert len(faces) == 2 and faces[0].area > faces[1].area
    assert faces[0].x < 512 < faces[1].x


def test_no_face_in_a_plain_picture():
    assert detect_faces(Image.new("RGB", (640, 480), (90, 120, 200))) == []
    assert len(detect_faces(schematic_face(200))) == 1


def test_framing_copies_the_training_crop_and_stays_inside():
    box = framing(Box(100, 100, 100, 100), 1000, 1000)
    assert box.w == pytest.approx(100 * FRAMING_SIDE) and box.y < 100  # wider than the face, reaching up to the hair
    edge = framing(Box(0, 0, 100, 100), 1000, 1000)
    assert edge.x == 0 and edge.y == 0 and edge.w == pytest.approx(100 * FRAMING_SIDE)  # shifted in, not padded
    small = framing(Box(10, 10, 100, 100), 120, 90)
    assert small.w == 90 and small.x + small.w <= 120  # shrunk to fit


def test_crop_resizes_the_box():
    image = Image.new("RGB", (300, 200), "white")
    image.paste((255, 0, 0), (50, 0, 250, 200))
    out = crop(image, centre_square(300, 200), 64)
    assert out.size == (64, 64) and out.getpixel((32, 32)) == (255, 0, 0)


@pytest.mark.parametrize("mode, top", [("I;16", 65535), ("I", 65535), ("F", 1.0)])
def test_wide_greyscale_is_scaled_to_eight_bits_not_clipped(tmp_path, mode, top):
    import numpy as np

    ramp = np.linspace(0, top, 64 * 64).reshape(64, 64)
    image = Image.fromarray(ramp.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    assert image.mode == mode
    out = read_image(saved(tmp_path, image, "wide.tif") if mode == "F" else image)
    grey = np.asarray(out.convert("L"), dtype=float)
    assert out.mode == "RGB" and grey.min() == 0 and grey.max() == 255 and 120 < grey.mean() < 135  # not washed out


def test_a_very_wide_image_has_no_face_and_no_error():
    assert detect_faces(Image.new("RGB", (40000, 16), (128, 128, 128))) == []
    assert detect_faces(Image.new("RGB", (16, 6000), (128, 128, 128))) == []


def test_too_large_says_by_how_much():
    with pytest.raises(ValueError, match=r"8001x5000 is 40.01 megapixels; the limit is 40\."):
        read_image(Image.new("1", (8001, 5000)))


@pytest.mark.parametrize("side", [64, 96, 160, 256, 400])
@pytest.mark.parametrize("busy", [False, True])
def test_a_pasted_face_is_found_at_every_size(side, busy):
    from train.face_detection import PHOTO, found, texture

    rng = np.random.default_rng(side)
    photo = texture(rng, PHOTO) if busy else Image.new("RGB", PHOTO, (70, 90, 60))
    x, y = int(rng.integers(0, PHOTO[0] - side)), int(rng.integers(0, PHOTO[1] - side))
    photo.paste(schematic_face(side), (x, y))
    assert found(detect_faces(photo), x, y, side)


def test_a_large_photo_is_searched_small_and_answered_in_its_own_pixels():
    photo = Image.new("RGB", (6000, 4000), (70, 90, 60))
    photo.paste(schematic_face(420), (4800, 3100))  # 7% of the short side, near the bottom-right corner
    (face,) = detect_faces(photo)
    assert 4800 < face.x + face.w / 2 < 5220 and 3100 < face.y + face.h / 2 < 3520 and 200 < face.w < 500


def test_no_face_in_textures():  # (the Haar baseline reports faces in most of them)
    from train.face_detection import PHOTO, texture

    assert all(detect_faces(texture(np.random.default_rng(seed), PHOTO)) == [] for seed in range(5))


def test_the_haar_baseline_still_finds_the_drawn_faces():
    assert len(detect_faces(two_face_photo(), "haar")) == 2


def test_landmarks_sit_where_a_face_has_them():
    from genmodels import load

    boxes, scores, landmarks = load("face-detector").detect(np.asarray(schematic_face(240)))
    assert len(boxes) == 1 and scores[0] > 0.95
    (left_eye, right_eye, nose, mouth_left, mouth_right) = landmarks[0]
    assert left_eye[0] < nose[0] < right_eye[0] and max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_a_huge_jpeg_is_decoded_small_and_keeps_its_shape(tmp_path):
    from genmodels.facecrop import WORK_SIDE

    path = saved(tmp_path, Image.new("RGB", (6000, 4000), (10, 200, 30)), "huge.jpg", quality=80)
    out = read_image(path)
    assert WORK_SIDE <= max(out.size) < 6000 and out.size[0] * 2 == out.size[1] * 3  # 3000x2000: half scale
    assert read_image(saved(tmp_path, Image.new("RGB", (1024, 768)), "small.jpg")).size == (1024, 768)


def test_the_detection_measurement_finds_pasted_faces_and_counts_false_alarms(tmp_path, monkeypatch):
    from datasets import Dataset, Features, Image as ImageFeature

    from train import face_detection

    from .conftest import make_image_dataset, png_bytes

    faces = [np.asarray(Image.blend(schematic_face(64), Image.new("RGB", (64, 64), (i, 0, 0)), 0.1)) for i in range(80)]
    (tmp_path / "faces" / "data").mkdir(parents=True)  # 80 drawn faces (all different bytes: some land in our held-out part)
    Dataset.from_dict({"image": [{"bytes": png_bytes(f), "path": None} for f in faces]},
                      features=Features({"image": ImageFeature()})).to_parquet(tmp_path / "faces" / "data" / "train-00000-of-00001.parquet")
    noise = make_image_dataset(tmp_path / "noise", 80, size=32)
    config = face_detection.parse(face_detection.Config, ["--faces", str(tmp_path / "faces"), "--sizes", "160", "--num-faces", "3",
                                                          "--num-large", "1", "--cats", str(noise), "--cars", str(noise),
                                                          "--num-free", "2", "2", "2", "--no-record"])  # fmt: skip
    results = face_detection.measure(config)
    assert set(results) == {"mtcnn", "haar"}
    mtcnn = results["mtcnn"]
    assert mtcnn["found, 160 px face, plain 1024x768"] == 1.0 and mtcnn["found, 160 px face, textured 1024x768"] > 0.5
    assert mtcnn["face reported in face-free textures"] == 0.0
    assert "| found, 160 px face, plain 1024x768 | 100.0% |" in face_detection.table(results, config)
