"""A small synthetic stand-in for CIFAR-10, written in CIFAR-10's own python format.

It lets every notebook and test run with no network. Each class is a fixed arrangement of
soft coloured ellipses (a crude "object": a plane is a long pale body with wings, a car a
red body on two wheels, a ship a dark hull under a white deck...) drawn on a two-tone
scene (sky over grass, sky over water, a room, a road...). Every image moves, rescales and
mirrors its object, jitters its colours, brightness and contrast, adds clutter and pixel
noise. Scenes are shared between classes and car/truck, cat/dog and deer/horse are drawn
alike on purpose, so colour statistics alone leave many mistakes and spatial features pay
off: a small conv net beats a larger MLP, and both stay far from 100% on validation.

The files match the real ones key for key: `data_batch_1..5` and `test_batch` are pickled
dicts with `batch_label` (str), `labels` (list of int), `data` (uint8 (n, 3072), each row
1024 red, 1024 green, then 1024 blue values of a row-major 32x32 image) and `filenames`
(list of str); `batches.meta` holds `label_names`, `num_cases_per_batch` and `num_vis`.

The generator draws from numpy's legacy `RandomState`, whose streams numpy promises to keep
across versions, so a seed draws the same numbers on a student's laptop and on CI; the
images agree up to rare one-level rounding differences of floating point between CPUs.
"""

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np

LABEL_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
FOLDER_NAME = "cifar-10-batches-py"
BATCH_FILES = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
]
META_FILE = "batches.meta"
STAMP_FILE = "EMBEDDED_STAMP.json"
IMAGES_PER_BATCH = 1000  # 5,000 training and 1,000 test images, generated in about 2 s
SEED = 231
# Bump whenever the images change, so that folders written by an older version regenerate.
VERSION = 1

SIZE = 32

# Scene colours (top, bottom) as RGB means; the horizon height is random per image.
SCENES = {
    "sky_grass": ((135, 175, 225), (95, 145, 70)),
    "sky_water": ((150, 185, 225), (55, 95, 150)),
    "sky": ((120, 165, 220), (170, 200, 235)),
    "room": ((165, 150, 130), (120, 95, 75)),
    "road": ((150, 150, 155), (95, 95, 100)),
    "forest": ((60, 95, 55), (105, 120, 65)),
    "mud": ((120, 115, 80), (90, 85, 60)),
}
SCENE_NAMES = list(SCENES)

# Per class: scene probabilities, then blobs (dx, dy, rx, ry, (r, g, b)) drawn in order,
# offsets and radii in pixels around the object's centre at scale 1.
CLASSES = [
    (
        {"sky": 5, "sky_grass": 2, "sky_water": 1, "road": 1},
        [
            (0, 0, 10, 2.5, (205, 205, 215)),
            (1, 0, 2.5, 9, (175, 180, 190)),
            (-9, -2, 1.5, 3, (175, 180, 190)),
        ],
    ),
    (
        {"road": 5, "sky_grass": 2, "room": 1, "forest": 1},
        [
            (0, 0, 10, 4, (185, 45, 45)),
            (-1, -4, 5, 3, (70, 75, 95)),
            (-6, 4, 2.5, 2.5, (30, 30, 30)),
            (6, 4, 2.5, 2.5, (30, 30, 30)),
        ],
    ),
    (
        {"sky": 3, "sky_grass": 3, "forest": 2, "mud": 1},
        [
            (0, 0, 5, 3.5, (140, 110, 70)),
            (5, -3, 2.5, 2.5, (120, 95, 60)),
            (8, -3, 1.5, 1, (225, 150, 40)),
        ],
    ),
    (
        {"room": 5, "sky_grass": 1, "mud": 1, "road": 1},
        [
            (0, 0, 6, 6, (175, 135, 95)),
            (-4, -6, 2, 2.5, (175, 135, 95)),
            (4, -6, 2, 2.5, (175, 135, 95)),
            (-2.5, -1, 1.2, 1.2, (90, 170, 60)),
            (2.5, -1, 1.2, 1.2, (90, 170, 60)),
        ],
    ),
    (
        {"forest": 4, "sky_grass": 3, "mud": 2},
        [
            (0, 0, 8, 4, (150, 110, 70)),
            (7, -5, 3, 3, (150, 110, 70)),
            (7, -10, 3.5, 1, (70, 50, 35)),
        ],
    ),
    (
        {"room": 4, "sky_grass": 2, "mud": 1, "road": 1},
        [
            (0, 0, 6, 6, (155, 115, 75)),
            (-6, 0, 2, 4, (100, 70, 40)),
            (6, 0, 2, 4, (100, 70, 40)),
            (0, 2, 1.5, 1.2, (30, 25, 25)),
        ],
    ),
    (
        {"mud": 4, "forest": 3, "sky_grass": 1},
        [
            (0, 0, 8, 5, (85, 145, 60)),
            (-4, -4, 2, 2, (200, 200, 90)),
            (4, -4, 2, 2, (200, 200, 90)),
        ],
    ),
    (
        {"sky_grass": 4, "forest": 2, "mud": 2},
        [(0, 0, 9, 4.5, (120, 80, 50)), (8, -4, 2, 5, (120, 80, 50)), (0, 5, 7, 2, (80, 55, 35))],
    ),
    (
        {"sky_water": 6, "sky": 1, "road": 1},
        [(0, 3, 11, 3, (70, 70, 90)), (0, -2, 5, 3, (220, 220, 220)), (2, -7, 1, 5, (90, 90, 100))],
    ),
    (
        {"road": 5, "sky_grass": 2, "forest": 1, "room": 1},
        [
            (2, -1, 11, 5, (175, 65, 55)),
            (-8, -1, 4, 4, (70, 75, 95)),
            (-7, 5, 2.5, 2.5, (30, 30, 30)),
            (7, 5, 2.5, 2.5, (30, 30, 30)),
        ],
    ),
]
MAX_BLOBS = max(len(blobs) for _, blobs in CLASSES)
MAX_CLUTTER = 3

# How much each image varies; together they set how hard the task is.
SHIFT = 5  # object centre moves up to this many pixels each way
SCALE = (0.75, 1.2)  # object size range
OBJECT_TINT = 20  # std of one colour shift shared by a whole object
BLOB_TINT = 15  # std of each blob's own colour shift
SCENE_TINT = 25  # std of the scene colours' shift
CONTRAST = (0.6, 1.3)
BRIGHTNESS = 25  # std of a brightness offset
NOISE = 12  # std of per-pixel noise


def generate(folder, images_per_batch=IMAGES_PER_BATCH, seed=SEED):
    """Return the path of an embedded `cifar-10-batches-py` folder inside `folder`.

    Writes it when missing or when its stamp (version, size, seed) differs, into a temporary
    folder first and renaming it into place, so a crash never leaves half a dataset.

    Inputs:
    - folder: where `cifar-10-batches-py/` goes (created if needed)
    - images_per_batch: images in each of the 6 batch files (a multiple of 10)
    - seed: seed of the generator

    Returns:
    - path of `folder/cifar-10-batches-py`
    """
    if images_per_batch <= 0 or images_per_batch % 10:
        raise ValueError(
            f"generate: images_per_batch must be a positive multiple of 10, "
            f"got {images_per_batch!r}"
        )
    folder = Path(folder)
    target = folder / FOLDER_NAME
    stamp = {"version": VERSION, "images_per_batch": images_per_batch, "seed": seed}
    if read_stamp(target) == stamp:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".embedded-", dir=folder))
    try:
        fresh = tmp / FOLDER_NAME  # made by mkdir, so it gets the usual permissions
        fresh.mkdir()
        _write_batches(fresh, images_per_batch, seed)
        (fresh / STAMP_FILE).write_text(json.dumps(stamp))
        _move_into_place(fresh, target, stamp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_stamp(path):
    """Return the stamp dict of an embedded folder, or None when there is none."""
    try:
        return json.loads((Path(path) / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None


def _move_into_place(fresh, target, stamp):
    old = None
    if target.exists():
        # Set an outdated folder aside first: a directory cannot be renamed onto a full one.
        old = Path(tempfile.mkdtemp(prefix=".embedded-old-", dir=target.parent))
        os.replace(target, old / FOLDER_NAME)
    try:
        os.replace(fresh, target)
    except OSError:
        # Another process won the race; its folder is as good as ours if the stamp agrees.
        if read_stamp(target) != stamp:
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _write_batches(folder, images_per_batch, seed):
    rng = np.random.RandomState(seed)
    for index, name in enumerate(BATCH_FILES):
        labels = np.tile(np.arange(10), images_per_batch // 10)
        rng.shuffle(labels)
        images = render(labels, rng)  # (n, 32, 32, 3)
        is_test = name == "test_batch"
        batch = {
            "batch_label": (
                "testing batch 1 of 1" if is_test else f"training batch {index + 1} of 5"
            ),
            "labels": [int(label) for label in labels],
            "data": images.transpose(0, 3, 1, 2).reshape(len(labels), -1),  # (n, 3072)
            "filenames": [
                f"embedded_{LABEL_NAMES[label]}_{index}_{i:05d}.png"
                for i, label in enumerate(labels)
            ],
        }
        _dump(batch, folder / name)
    _dump(
        {
            "label_names": list(LABEL_NAMES),
            "num_cases_per_batch": images_per_batch,
            "num_vis": 3 * SIZE * SIZE,
        },
        folder / META_FILE,
    )


def _dump(obj, path):
    # Protocol 4 stores the pixel bytes as they are (protocol 2 inflates them by half) and
    # loads with encoding='latin1' exactly like the real Python 2 pickles.
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


def render(labels, rng):
    """Draw one image per label.

    Inputs:
    - labels: int array (N,) of class indices in 0..9
    - rng: a numpy RandomState

    Returns:
    - images: uint8 array (N, 32, 32, 3)
    """
    labels = np.asarray(labels)
    n = len(labels)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)  # (32, 32) each
    images = _scenes(labels, rng, ys)  # (N, 32, 32, 3)
    _paint(images, _clutter(n, rng), xs, ys)
    _paint(images, _objects(labels, rng), xs, ys)
    contrast = rng.uniform(*CONTRAST, size=(n, 1, 1, 1)).astype(np.float32)
    shift = rng.normal(0, BRIGHTNESS, (n, 1, 1, 1)).astype(np.float32)
    means = images.mean(axis=(1, 2, 3), keepdims=True)  # (N, 1, 1, 1)
    images = (images - means) * contrast + means + shift
    images += rng.normal(0, NOISE, images.shape).astype(np.float32)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def _scenes(labels, rng, ys):
    n = len(labels)
    weights = np.array(
        [[probs.get(s, 0) for s in SCENE_NAMES] for probs, _ in CLASSES], dtype=float
    )
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    scene = (rng.uniform(size=(n, 1)) > cumulative[labels]).sum(axis=1)  # (N,)
    colours = np.array([SCENES[s] for s in SCENE_NAMES], dtype=float)  # (S, 2, 3)
    top = colours[scene, 0] + rng.normal(0, SCENE_TINT, (n, 3))  # (N, 3)
    bottom = colours[scene, 1] + rng.normal(0, SCENE_TINT, (n, 3))
    horizon = rng.uniform(8, 24, size=(n, 1, 1)).astype(np.float32)
    below = (1 / (1 + np.exp(-(ys[None] - horizon) / 1.5)))[..., None]  # (N, 32, 32, 1)
    top, bottom = (c[:, None, None].astype(np.float32) for c in (top, bottom))
    return top + below * (bottom - top)  # (N, 32, 32, 3)


def _objects(labels, rng):
    """Blob parameters (N, MAX_BLOBS, 8): cx, cy, rx, ry, r, g, b, alpha."""
    n = len(labels)
    table = np.zeros((10, MAX_BLOBS, 8))
    table[..., 2:4] = 1  # unused slots keep alpha 0; unit radii keep the maths finite
    for k, (_, blobs) in enumerate(CLASSES):
        for j, (dx, dy, rx, ry, rgb) in enumerate(blobs):
            table[k, j] = (dx, dy, rx, ry, *rgb, 1)
    blobs = table[labels]  # (N, B, 8)
    scale = rng.uniform(*SCALE, size=(n, 1))
    flip = np.where(rng.uniform(size=(n, 1)) < 0.5, -1.0, 1.0)
    centre = SIZE / 2 - 0.5 + rng.uniform(-SHIFT, SHIFT, size=(n, 2))
    blobs[..., 0] = centre[:, :1] + flip * scale * blobs[..., 0]
    blobs[..., 1] = centre[:, 1:] + scale * blobs[..., 1]
    blobs[..., 2:4] *= scale[..., None]
    blobs[..., 4:7] += rng.normal(0, OBJECT_TINT, (n, 1, 3)) + rng.normal(
        0, BLOB_TINT, (n, MAX_BLOBS, 3)
    )
    return blobs


def _clutter(n, rng):
    """Up to MAX_CLUTTER small blobs of any colour anywhere, same layout as _objects."""
    blobs = np.zeros((n, MAX_CLUTTER, 8))
    blobs[..., :2] = rng.uniform(0, SIZE, (n, MAX_CLUTTER, 2))
    blobs[..., 2:4] = rng.uniform(1.5, 4, (n, MAX_CLUTTER, 2))
    blobs[..., 4:7] = rng.uniform(20, 235, (n, MAX_CLUTTER, 3))
    blobs[..., 7] = rng.uniform(size=(n, MAX_CLUTTER)) < 0.5
    return blobs


def _paint(images, blobs, xs, ys):
    """Draw soft-edged ellipses over images, in order (later blobs cover earlier ones)."""
    blobs = blobs.astype(np.float32)
    for j in range(blobs.shape[1]):
        rows = np.flatnonzero(blobs[:, j, 7])  # images that have this blob
        cx, cy, rx, ry = (blobs[rows, j, i, None, None] for i in range(4))
        d2 = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2  # (n, 32, 32)
        cover = np.clip((1 - d2) * 3, 0, 1)[..., None]  # a ramp at the rim, 1 inside
        colour = blobs[rows, j, None, None, 4:7]  # (n, 1, 1, 3)
        images[rows] += cover * (colour - images[rows])
    return images
