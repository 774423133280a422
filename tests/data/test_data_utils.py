"""Tests for assignment/data_utils.py: where data is found, the classic splits, and the
fall-back to the embedded set."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import assignment
from assignment import data_utils, embedded_cifar
from assignment.data_utils import get_CIFAR10_data, load_CIFAR10, load_imagenet_val

pytestmark = pytest.mark.data

FETCH_CIFAR = "python datasets/get_datasets.py cifar10"


@pytest.fixture
def fake_cifar(datasets_dir, tmp_path, monkeypatch):
    """A datasets folder whose `cifar-10-batches-py` is a small set in the real format
    (50 training and 10 test images), next to the shared embedded set."""
    monkeypatch.setenv("ASSIGNMENT_DATASETS_DIR", str(tmp_path))
    source = embedded_cifar.generate(tmp_path / "source", images_per_batch=10, seed=5)
    shutil.copytree(source, tmp_path / "cifar-10-batches-py")
    (tmp_path / "embedded").symlink_to(embedded_cifar.generate(datasets_dir / "embedded").parent)
    return tmp_path


def test_embedded_set_is_used_and_sizes_reduced_with_one_notice(datasets_dir, capsys):
    """Without CIFAR-10, do the defaults become 4000/1000/1000, said once per process?"""
    data = get_CIFAR10_data()
    assert {k: v.shape for k, v in data.items()} == {
        "X_train": (4000, 3, 32, 32),
        "y_train": (4000,),
        "X_val": (1000, 3, 32, 32),
        "y_val": (1000,),
        "X_test": (1000, 3, 32, 32),
        "y_test": (1000,),
    }
    notice = capsys.readouterr().out
    assert notice.count("\n") == 1
    assert "4000 training, 1000 validation, 1000 test images" in notice
    assert "asked for 49000, 1000, 1000: reduced to fit" in notice
    assert f"For the real data run: {FETCH_CIFAR} --dest {datasets_dir}" in notice
    get_CIFAR10_data(num_training=100, num_validation=10, num_test=10)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "asked, used",
    [
        ((500, 50, 50), (500, 50, 50)),
        ((4900, 100, 100), (4900, 100, 100)),
        ((4900, 200, 2000), (4800, 200, 1000)),
        ((100, 4950, 10), (100, 1000, 10)),
        ((49000, 1000, 1000), (4000, 1000, 1000)),
    ],
)
def test_requests_too_large_for_the_embedded_set_are_clamped(datasets_dir, asked, used):
    """Are only the sizes that do not fit reduced, validation to at most a fifth?"""
    data = get_CIFAR10_data(*asked, subtract_mean=False)
    assert (len(data["y_train"]), len(data["y_val"]), len(data["y_test"])) == used


def test_validation_rows_follow_the_training_rows(datasets_dir):
    """Is validation the rows right after the training ones, as in the classic split?"""
    data = get_CIFAR10_data(300, 40, 20, subtract_mean=False)
    Xtr, ytr, Xte, yte = load_CIFAR10(data_utils.embedded_dir() / "cifar-10-batches-py")
    nchw = lambda X: X.transpose(0, 3, 1, 2)  # noqa: E731
    assert np.array_equal(data["X_train"], nchw(Xtr[:300]))
    assert np.array_equal(data["X_val"], nchw(Xtr[300:340]))
    assert np.array_equal(data["y_val"], ytr[300:340])
    assert np.array_equal(data["X_test"], nchw(Xte[:20]))
    assert np.array_equal(data["y_test"], yte[:20])


def test_training_mean_image_is_subtracted_from_every_split(datasets_dir):
    """Is the training split's mean image (only) removed from train, val and test?"""
    raw = get_CIFAR10_data(300, 40, 20, subtract_mean=False)
    centred = get_CIFAR10_data(300, 40, 20)
    mean = raw["X_train"].mean(axis=0)
    for split in ("X_train", "X_val", "X_test"):
        assert centred[split].dtype == np.float64
        assert centred[split].flags["C_CONTIGUOUS"]
        np.testing.assert_allclose(centred[split], raw[split] - mean, atol=1e-10)
    np.testing.assert_allclose(centred["X_train"].mean(axis=0), 0, atol=1e-10)


def test_real_cifar10_is_preferred_when_present(fake_cifar, capsys):
    """With cifar-10-batches-py present, is it used, silently and unclamped?"""
    data = get_CIFAR10_data(40, 10, 10)
    Xtr, _, _, _ = load_CIFAR10(fake_cifar / "cifar-10-batches-py")
    assert np.allclose(
        data["X_val"] + Xtr[:40].mean(axis=0).transpose(2, 0, 1), Xtr[40:50].transpose(0, 3, 1, 2)
    )
    assert capsys.readouterr().out == ""
    with pytest.raises(
        ValueError,
        match="CIFAR-10 has 50 training and 10 test images; asked for 49000 \\+ 1000 and 1000",
    ):
        get_CIFAR10_data()


def test_assignment_data_variable_overrides_the_default_source(fake_cifar, monkeypatch):
    """Does ASSIGNMENT_DATA=embedded force the embedded set, and an explicit source win?"""
    monkeypatch.setenv("ASSIGNMENT_DATA", "embedded")
    assert len(get_CIFAR10_data(num_test=1000)["y_test"]) == 1000
    assert len(get_CIFAR10_data(40, 10, 10, source="cifar10")["y_train"]) == 40
    monkeypatch.setenv("ASSIGNMENT_DATA", "cifar10")
    assert len(get_CIFAR10_data(40, 10, 10)["y_train"]) == 40
    monkeypatch.setenv("ASSIGNMENT_DATA", "real")
    with pytest.raises(
        ValueError, match="ASSIGNMENT_DATA must be one of auto, cifar10, embedded; got 'real'"
    ):
        get_CIFAR10_data()


def test_source_embedded_forces_the_embedded_set(fake_cifar, capsys):
    """Does source='embedded' ignore the real data and say why in its notice?"""
    data = get_CIFAR10_data(source="embedded")
    assert len(data["y_train"]) == 4000
    assert "source='embedded'" in capsys.readouterr().out


def test_missing_cifar10_with_source_cifar10_names_the_command(tmp_path, monkeypatch):
    """Does source='cifar10' without the data say exactly how to fetch it?"""
    monkeypatch.delenv("ASSIGNMENT_DATASETS_DIR", raising=False)
    monkeypatch.setattr(data_utils, "DATASETS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        get_CIFAR10_data(source="cifar10")
    assert str(err.value) == (
        f"get_CIFAR10_data: source='cifar10' but CIFAR-10 is not in "
        f"{tmp_path / 'cifar-10-batches-py'}. Fetch it with: {FETCH_CIFAR}"
    )


def test_unknown_source_and_bad_sizes_are_refused(datasets_dir):
    """Are a misspelt source and negative or non-integer sizes clear errors?"""
    with pytest.raises(
        ValueError, match="source must be one of auto, cifar10, embedded; got 'CIFAR10'"
    ):
        get_CIFAR10_data(source="CIFAR10")
    with pytest.raises(ValueError, match="num_validation must be an integer >= 0, got -1"):
        get_CIFAR10_data(num_validation=-1)
    with pytest.raises(ValueError, match="num_training must be an integer >= 0, got 4.5"):
        get_CIFAR10_data(num_training=4.5)


def test_load_CIFAR10_gives_the_classic_float_nhwc_arrays(fake_cifar):
    """Does load_CIFAR10 return NHWC float64 images and integer labels?"""
    Xtr, ytr, Xte, yte = load_CIFAR10(fake_cifar / "cifar-10-batches-py")
    assert Xtr.shape == (50, 32, 32, 3) and Xte.shape == (10, 32, 32, 3)
    assert Xtr.dtype == np.float64 and 0 <= Xtr.min() and Xtr.max() <= 255
    assert ytr.shape == (50,) and yte.shape == (10,)
    assert np.issubdtype(ytr.dtype, np.integer)
    X1, y1 = data_utils.load_CIFAR_batch(fake_cifar / "cifar-10-batches-py" / "data_batch_2")
    assert np.array_equal(X1, Xtr[10:20]) and np.array_equal(y1, ytr[10:20])


def test_load_CIFAR10_on_a_wrong_folder_names_the_missing_files(tmp_path, datasets_dir):
    """Is pointing load_CIFAR10 at the wrong folder an error that lists what is missing?"""
    with pytest.raises(
        FileNotFoundError,
        match=r"load_CIFAR10: .* \(missing data_batch_1, "
        r".*batches\.meta\)\. Fetch it with: ",
    ):
        load_CIFAR10(tmp_path)


@pytest.fixture
def fake_imagenet(datasets_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ASSIGNMENT_DATASETS_DIR", str(tmp_path))
    X = np.random.RandomState(0).randint(0, 256, (4, 224, 224, 3)).astype(np.uint8)
    y = np.array([958, 85, 244, 182])
    names = {958: "hay", 85: "quail", 244: "Tibetan mastiff", 182: "Border terrier"}
    np.savez(tmp_path / "imagenet_val_25.npz", X=X, y=y, label_map=np.array(names))
    return X, y, names


def test_load_imagenet_val_reads_images_labels_and_names(fake_imagenet):
    """Does load_imagenet_val return uint8 NHWC images, labels and all 1,000 class names
    (the file's own map, with its missing class 134, is not used)?"""
    X, y, names = fake_imagenet
    X2, y2, names2 = load_imagenet_val(num=2)
    assert X2.dtype == np.uint8 and X2.shape == (2, 224, 224, 3)
    assert np.array_equal(X2, X[:2]) and np.array_equal(y2, y[:2])
    assert sorted(names2) == list(range(1000))
    assert all(names2[k] == v for k, v in names.items())
    assert names2[134] == names2[517] == "crane"
    assert len(load_imagenet_val()[0]) == 4
    with pytest.raises(ValueError, match="num must be None or an integer >= 0, got -3"):
        load_imagenet_val(num=-3)


def test_class_names_file_holds_the_classic_names_of_all_1000_classes():
    """Are the names the WordNet strings the classic notebook shows, one per class?"""
    names = data_utils.load_imagenet_class_names()
    assert len(names) == 1000 and all(names)
    assert (names[0], names[6], names[76], names[683], names[999]) == (
        "tench, Tinca tinca",
        "stingray",
        "tarantula",
        "oboe, hautboy, hautbois",
        "toilet tissue, toilet paper, bathroom tissue",
    )


def test_missing_imagenet_val_and_weights_name_the_command(tmp_path, monkeypatch):
    """Are the ImageNet sample and SqueezeNet weights, when missing, clear errors?"""
    monkeypatch.delenv("ASSIGNMENT_DATASETS_DIR", raising=False)
    monkeypatch.setattr(data_utils, "DATASETS_DIR", tmp_path)
    with pytest.raises(
        FileNotFoundError, match="Fetch it with: python datasets/get_datasets.py imagenet_val$"
    ):
        load_imagenet_val()
    with pytest.raises(
        FileNotFoundError, match="Fetch it with: python datasets/get_datasets.py squeezenet$"
    ):
        data_utils.squeezenet_weights_path()


def test_datasets_folder_is_found_from_the_package_not_the_cwd(tmp_path, monkeypatch):
    """Does a notebook running in notebooks/ (or anywhere) find <root>/datasets?"""
    monkeypatch.delenv("ASSIGNMENT_DATASETS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    root = Path(assignment.__file__).resolve().parent.parent
    assert data_utils.datasets_dir() == data_utils.DATASETS_DIR == root / "datasets"
    assert data_utils.cifar10_dir() == root / "datasets" / "cifar-10-batches-py"
    assert data_utils.embedded_dir() == root / "datasets" / "embedded"
    assert data_utils.imagenet_val_path() == root / "datasets" / "imagenet_val_25.npz"
    assert data_utils.fetch_command("cifar10") == FETCH_CIFAR
