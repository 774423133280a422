"""Where the datasets live, and loaders for CIFAR-10 and the ImageNet validation sample.

The real CIFAR-10 is used when `datasets/cifar-10-batches-py` holds it (fetch it with
`python datasets/get_datasets.py cifar10`). Without it, `get_CIFAR10_data` falls back to a
small synthetic stand-in in the same file format (see `embedded_cifar.py`), generated on
first use into `datasets/embedded/`, so that every notebook runs with no network.

Environment variables:
- ASSIGNMENT_DATA: `auto` (default), `cifar10` or `embedded`; the data source
  `get_CIFAR10_data` uses when its caller names none (tests and CI set `embedded`).
- ASSIGNMENT_DATASETS_DIR: a folder to use instead of the `datasets/` folder next to the
  `assignment` package (for example a Google Drive folder on Colab).
"""

import os
import pickle
import shlex
from pathlib import Path

import numpy as np

from . import embedded_cifar

# Found from this file, so it is the same whether a notebook runs in notebooks/, the
# repository root or a student release (which has the same assignment/ and datasets/).
DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"
CIFAR10_FOLDER = "cifar-10-batches-py"
EMBEDDED_FOLDER = "embedded"
IMAGENET_VAL_FILE = "imagenet_val_25.npz"
SQUEEZENET_FILE = "squeezenet1_1-b8a52dc0.pth"
# The 1,000 ImageNet class names, line i for class i (the WordNet lemmas of the sorted synset
# ids, taken from timm 1.0.31's data/_info/imagenet_synset_to_lemma.txt). The sample's own
# label_map has 999: class 134 ("crane", the bird) collided with class 517 (the machine).
IMAGENET_CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")
SOURCES = ("auto", "cifar10", "embedded")
CIFAR10_FILES = [*embedded_cifar.BATCH_FILES, embedded_cifar.META_FILE]

_announced = False  # the embedded-data notice is printed once per process


def datasets_dir():
    """Return the folder that holds the datasets: $ASSIGNMENT_DATASETS_DIR or DATASETS_DIR."""
    override = os.environ.get("ASSIGNMENT_DATASETS_DIR")
    return Path(override).expanduser() if override else DATASETS_DIR


def cifar10_dir():
    """Return where the real CIFAR-10 batches are expected."""
    return datasets_dir() / CIFAR10_FOLDER


def embedded_dir():
    """Return the folder the embedded stand-in is generated into."""
    return datasets_dir() / EMBEDDED_FOLDER


def imagenet_val_path():
    """Return where `imagenet_val_25.npz` is expected."""
    return datasets_dir() / IMAGENET_VAL_FILE


def squeezenet_weights_path():
    """Return the path of the SqueezeNet 1.1 weights; FileNotFoundError when they are missing."""
    path = datasets_dir() / SQUEEZENET_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"squeezenet_weights_path: {path} not found. Fetch it with: "
            f"{fetch_command('squeezenet')}"
        )
    return path


def fetch_command(asset):
    """Return the shell command that downloads `asset` to where the loaders look for it."""
    command = f"python datasets/get_datasets.py {asset}"
    if datasets_dir() != DATASETS_DIR:
        command += f" --dest {shlex.quote(str(datasets_dir()))}"
    return command


def has_cifar10(root=None):
    """Return True when `root` (default: cifar10_dir()) holds every CIFAR-10 batch file."""
    root = Path(root) if root is not None else cifar10_dir()
    return all((root / name).is_file() for name in CIFAR10_FILES)


def load_CIFAR_batch(filename):
    """Load one CIFAR-10 batch file.

    Inputs:
    - filename: path of a pickled batch (`data_batch_1`, ..., `test_batch`)

    Returns:
    - X: float64 array (N, 32, 32, 3) of pixel values in 0..255
    - y: int array (N,) of labels in 0..9
    """
    X, y = _read_batch(filename)
    return X.astype(np.float64), y


def load_CIFAR10(root):
    """Load all of CIFAR-10 from a `cifar-10-batches-py` folder.

    Inputs:
    - root: the folder holding data_batch_1..5 and test_batch

    Returns:
    - Xtr: float64 array (N, 32, 32, 3), the training images (50,000 for CIFAR-10)
    - ytr: int array (N,)
    - Xte: float64 array (M, 32, 32, 3), the test images (10,000 for CIFAR-10)
    - yte: int array (M,)
    """
    Xtr, ytr, Xte, yte = _read_cifar10(root)
    return Xtr.astype(np.float64), ytr, Xte.astype(np.float64), yte


def get_CIFAR10_data(
    num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True, source=None
):
    """Load CIFAR-10 split for training, validation and test, ready for the classifiers.

    The validation images are the training rows that follow the first num_training ones;
    the test images are the first num_test of the test batch. With subtract_mean, the mean
    image of the training split is subtracted from all three splits.

    On the embedded stand-in (5,000 training and 1,000 test images) sizes that do not fit
    are reduced: validation to at most a fifth of the training rows, training to what is
    left, test to what exists. The defaults become 4000 / 1000 / 1000. A notice saying so
    is printed once per process.

    Inputs:
    - num_training, num_validation, num_test: number of images in each split
    - subtract_mean: whether to subtract the mean training image
    - source: 'auto' (the real CIFAR-10 when present, else the embedded set), 'cifar10'
      or 'embedded'; None means $ASSIGNMENT_DATA, or 'auto' when that is unset

    Returns a dict with:
    - X_train: float64 array (N_train, 3, 32, 32); y_train: int array (N_train,)
    - X_val: float64 array (N_val, 3, 32, 32); y_val: int array (N_val,)
    - X_test: float64 array (N_test, 3, 32, 32); y_test: int array (N_test,)
    """
    sizes = (num_training, num_validation, num_test)
    for name, value in zip(("num_training", "num_validation", "num_test"), sizes):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"get_CIFAR10_data: {name} must be an integer >= 0, got {value!r}")
    source = _resolve_source(source)
    use_real = source == "cifar10" or (source == "auto" and has_cifar10())
    if use_real:
        if not has_cifar10():
            raise FileNotFoundError(
                f"get_CIFAR10_data: source='cifar10' but CIFAR-10 is not in {cifar10_dir()}. "
                f"Fetch it with: {fetch_command('cifar10')}"
            )
        Xtr, ytr, Xte, yte = _read_cifar10(cifar10_dir())
        if num_training + num_validation > len(Xtr) or num_test > len(Xte):
            raise ValueError(
                f"get_CIFAR10_data: CIFAR-10 has {len(Xtr)} training and {len(Xte)} test "
                f"images; asked for {num_training} + {num_validation} and {num_test}"
            )
    else:
        Xtr, ytr, Xte, yte = _read_cifar10(embedded_cifar.generate(embedded_dir()))
        used = _clamp(sizes, len(Xtr), len(Xte))
        _announce(source, sizes, used, len(Xtr), len(Xte))
        num_training, num_validation, num_test = used

    X_train = Xtr[:num_training].astype(np.float64)
    X_val = Xtr[num_training : num_training + num_validation].astype(np.float64)
    X_test = Xte[:num_test].astype(np.float64)
    if subtract_mean and num_training:
        mean_image = X_train.mean(axis=0)  # (32, 32, 3)
        X_train -= mean_image
        X_val -= mean_image
        X_test -= mean_image
    return {
        "X_train": X_train.transpose(0, 3, 1, 2).copy(),  # (N, C, H, W)
        "y_train": ytr[:num_training],
        "X_val": X_val.transpose(0, 3, 1, 2).copy(),  # (N, C, H, W)
        "y_val": ytr[num_training : num_training + num_validation],
        "X_test": X_test.transpose(0, 3, 1, 2).copy(),  # (N, C, H, W)
        "y_test": yte[:num_test],
    }


def load_imagenet_val(num=None):
    """Load the 25 ImageNet validation images used by the visualization notebook.

    Inputs:
    - num: how many images to return (all 25 when None)

    Returns:
    - X: uint8 array (num, 224, 224, 3)
    - y: int array (num,) of ImageNet class indices
    - class_names: dict from class index to its name, all 1,000 classes
      (load_imagenet_class_names; the file's own map lacks class 134)
    """
    if num is not None and (
        isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 0
    ):
        raise ValueError(f"load_imagenet_val: num must be None or an integer >= 0, got {num!r}")
    path = imagenet_val_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"load_imagenet_val: {path} not found. Fetch it with: {fetch_command('imagenet_val')}"
        )
    # Only the arrays: the file's pickled label_map is not needed, so nothing is unpickled.
    with np.load(path, allow_pickle=False) as f:
        X, y = f["X"], f["y"]
    if num is not None:
        X, y = X[:num], y[:num]
    return X, y, dict(enumerate(load_imagenet_class_names()))


def load_imagenet_class_names():
    """Return the list of the 1,000 ImageNet class names, index i for class i."""
    names = IMAGENET_CLASSES_FILE.read_text(encoding="utf-8").splitlines()
    if len(names) != 1000:
        raise ValueError(
            f"load_imagenet_class_names: {IMAGENET_CLASSES_FILE} should hold "
            f"1000 lines, one name per class; it has {len(names)}"
        )
    return names


def _resolve_source(source):
    origin = "source"
    if source is None:
        origin = "ASSIGNMENT_DATA"
        source = os.environ.get("ASSIGNMENT_DATA") or "auto"
    if source not in SOURCES:
        raise ValueError(
            f"get_CIFAR10_data: {origin} must be one of {', '.join(SOURCES)}; got {source!r}"
        )
    return source


def _clamp(sizes, available_train, available_test):
    num_training, num_validation, num_test = sizes
    if num_training + num_validation > available_train:
        num_validation = min(num_validation, available_train // 5)
        num_training = min(num_training, available_train - num_validation)
    return num_training, num_validation, min(num_test, available_test)


def _announce(source, asked, used, available_train, available_test):
    global _announced
    if _announced:
        return
    _announced = True
    why = (
        "source='embedded'"
        if source == "embedded"
        else f"CIFAR-10 was not found in {cifar10_dir()}"
    )
    sizes = f"{used[0]} training, {used[1]} validation, {used[2]} test images"
    if used != asked:
        sizes += " (asked for {}, {}, {}: reduced to fit)".format(*asked)
    print(
        f"get_CIFAR10_data: {why}, so this uses the embedded synthetic stand-in "
        f"({available_train} training and {available_test} test images in "
        f"{embedded_dir()}): {sizes}. Accuracies on it are not comparable with "
        f"CIFAR-10. For the real data run: {fetch_command('cifar10')}"
    )


def _read_batch(filename):
    with open(filename, "rb") as f:
        # latin1 reads the Python 2 pickles of the real dataset with str keys.
        batch = pickle.load(f, encoding="latin1")
    X = batch["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3)
    return X, np.array(batch["labels"])


def _read_cifar10(root):
    root = Path(root)
    missing = [name for name in CIFAR10_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"load_CIFAR10: {root} does not hold CIFAR-10 (missing "
            f"{', '.join(missing)}). Fetch it with: "
            f"{fetch_command('cifar10')}"
        )
    parts = [_read_batch(root / f"data_batch_{b}") for b in range(1, 6)]
    Xte, yte = _read_batch(root / "test_batch")
    Xtr = np.concatenate([X for X, _ in parts])
    ytr = np.concatenate([y for _, y in parts])
    return Xtr, ytr, Xte, yte
