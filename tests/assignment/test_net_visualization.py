"""Do the models and the provided parts of Network_Visualization work, offline and with the
downloaded SqueezeNet?"""

import hashlib

import numpy as np
import pytest
import torch

from assignment import data_utils, embedded_cifar
from assignment import net_visualization as nv
from assignment.classifiers import embedded_convnet
from assignment.classifiers.squeezenet import SqueezeNet, load_squeezenet
from assignment.download import SQUEEZENET

pytestmark = [pytest.mark.netvis, pytest.mark.usefixtures("torch_one_thread")]


def _fire(index, cin, squeeze, expand):
    prefix = f"features.{index}."
    return {
        prefix + "squeeze.weight": (squeeze, cin, 1, 1),
        prefix + "squeeze.bias": (squeeze,),
        prefix + "expand1x1.weight": (expand, squeeze, 1, 1),
        prefix + "expand1x1.bias": (expand,),
        prefix + "expand3x3.weight": (expand, squeeze, 3, 3),
        prefix + "expand3x3.bias": (expand,),
    }


# The keys and shapes of torchvision's squeezenet1_1 state dict (52 tensors), written out from
# its published architecture rather than read from our module.
TORCHVISION_KEYS = {
    "features.0.weight": (64, 3, 3, 3),
    "features.0.bias": (64,),
    **_fire(3, 64, 16, 64),
    **_fire(4, 128, 16, 64),
    **_fire(6, 128, 32, 128),
    **_fire(7, 256, 32, 128),
    **_fire(9, 256, 48, 192),
    **_fire(10, 384, 48, 192),
    **_fire(11, 384, 64, 256),
    **_fire(12, 512, 64, 256),
    "classifier.1.weight": (1000, 512, 1, 1),
    "classifier.1.bias": (1000,),
}


def test_squeezenet_loads_a_state_dict_saved_with_torchvisions_key_names(tmp_path):
    """Does a file with exactly torchvision's keys load, with weights_only, unchanged?"""
    generator = torch.Generator().manual_seed(0)
    state = {
        key: torch.randn(shape, generator=generator) * 0.05
        for key, shape in TORCHVISION_KEYS.items()
    }
    path = tmp_path / "squeezenet1_1-random.pth"
    torch.save(state, path)
    assert len(TORCHVISION_KEYS) == 52
    model = load_squeezenet(path)
    assert set(model.state_dict()) == set(TORCHVISION_KEYS)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    X = torch.randn(2, 3, 224, 224, generator=generator)
    A = model.features(X)
    assert A.shape == (2, 512, 13, 13)
    assert torch.allclose(model(X), model.head(A)) and model(X).shape == (2, 1000)


def test_squeezenet_has_the_published_parameter_count():
    assert sum(p.numel() for p in SqueezeNet().parameters()) == 1_235_496


def test_missing_squeezenet_weights_say_how_to_fetch_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSIGNMENT_DATASETS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="get_datasets.py squeezenet"):
        load_squeezenet()
    with pytest.raises(FileNotFoundError, match="get_datasets.py imagenet_val"):
        nv.load_model_and_images(source="imagenet")


def test_auto_source_uses_squeezenet_and_the_imagenet_sample_once_both_are_there(
    tmp_path, monkeypatch
):
    """With files where the download tool puts them (stand-ins here: random weights under
    torchvision's names, random images), the loader picks SqueezeNet and all 1,000 names."""
    monkeypatch.setenv("ASSIGNMENT_DATASETS_DIR", str(tmp_path))
    monkeypatch.delenv("ASSIGNMENT_DATA", raising=False)
    generator = torch.Generator().manual_seed(1)
    torch.save(
        {k: torch.randn(s, generator=generator) * 0.05 for k, s in TORCHVISION_KEYS.items()},
        tmp_path / data_utils.SQUEEZENET_FILE,
    )
    assert "embedded" in nv.load_model_and_images(num=1)["description"]  # weights alone: not yet
    images = np.random.RandomState(0).randint(0, 256, (3, 224, 224, 3)).astype(np.uint8)
    np.savez(
        tmp_path / data_utils.IMAGENET_VAL_FILE,
        X=images,
        y=np.array([958, 85, 244]),
        label_map=np.array({958: "hay"}),
    )
    loaded = nv.load_model_and_images(num=2)
    assert loaded["description"].startswith("SqueezeNet 1.1")
    assert np.array_equal(loaded["images"], images[:2]) and list(loaded["labels"]) == [958, 85]
    assert loaded["class_names"][958] == "hay" and len(loaded["class_names"]) == 1000
    X, y = nv.preprocess(loaded["images"][:1]), torch.from_numpy(loaded["labels"][:1])
    assert nv.compute_saliency_maps(X, y, loaded["model"]).shape == (1, 224, 224)


def _downloaded_assets():
    weights = data_utils.datasets_dir() / data_utils.SQUEEZENET_FILE
    missing = [str(p) for p in (weights, data_utils.imagenet_val_path()) if not p.is_file()]
    return weights, missing


@pytest.mark.slow
def test_pretrained_squeezenet_classifies_the_imagenet_sample():
    """With the downloaded weights and images: the checksum holds and most of the 25 images
    are classified right (SqueezeNet 1.1 has about 58% top-1 accuracy on ImageNet)."""
    weights, missing = _downloaded_assets()
    if missing:
        pytest.skip(
            f"needs the downloaded assets, missing {', '.join(missing)}; fetch them with "
            f"python datasets/get_datasets.py squeezenet imagenet_val"
        )
    assert hashlib.sha256(weights.read_bytes()).hexdigest().startswith(SQUEEZENET.digest)
    loaded = nv.load_model_and_images(num=25, source="imagenet")
    assert "SqueezeNet" in loaded["description"] and len(loaded["class_names"]) == 1000
    X, y = nv.preprocess(loaded["images"]), torch.from_numpy(loaded["labels"])
    with torch.no_grad():
        accuracy = (loaded["model"](X).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.5, accuracy
    assert nv.compute_saliency_maps(X[:2], y[:2], loaded["model"]).shape == (2, 224, 224)
    assert nv.compute_grad_cam(X[:2], y[:2], loaded["model"]).shape == (2, 13, 13)


# ---------------------------------------------------------------- the offline stand-in


@pytest.fixture(scope="module")
def offline():
    return nv.load_model_and_images(num=50, source="embedded")


def test_offline_model_is_the_embedded_net_on_embedded_test_images(offline):
    assert "embedded" in offline["description"]
    assert offline["images"].dtype == np.uint8 and offline["images"].shape == (50, 32, 32, 3)
    assert offline["class_names"] == embedded_cifar.LABEL_NAMES
    with torch.no_grad():
        predicted = offline["model"](nv.preprocess(offline["images"])).argmax(1).numpy()
    assert (predicted == offline["labels"]).mean() >= 0.55


def test_shipped_weights_are_small():
    assert embedded_convnet.WEIGHTS.stat().st_size < 300_000


def test_auto_source_falls_back_to_the_embedded_net_when_nothing_is_downloaded(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ASSIGNMENT_DATASETS_DIR", str(tmp_path))
    monkeypatch.delenv("ASSIGNMENT_DATA", raising=False)
    loaded = nv.load_model_and_images(num=2)
    assert "not downloaded" in loaded["description"] and "get_datasets.py" in loaded["description"]
    with pytest.raises(ValueError, match="source must be one of auto, imagenet, embedded"):
        nv.load_model_and_images(source="cifar10")


@pytest.mark.slow
def test_weight_build_is_deterministic():
    """Two builds (one epoch here) give the same weights on one thread."""
    first, _ = embedded_convnet.train_embedded_convnet(epochs=1)
    second, _ = embedded_convnet.train_embedded_convnet(epochs=1)
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), key


# ---------------------------------------------------------------- provided helpers


def test_preprocess_and_deprocess_are_inverse(offline):
    images = offline["images"][:3]
    X = nv.preprocess(images)
    assert X.shape == (3, 3, 32, 32) and X.dtype == torch.float32
    assert np.abs(nv.deprocess(X, should_rescale=False).astype(int) - images).max() <= 1
    assert nv.deprocess(X[0]).shape == (32, 32, 3)
    with pytest.raises(ValueError, match=r"preprocess: expected images \(N, H, W, 3\)"):
        nv.preprocess(np.zeros((2, 3, 32, 32)))


def test_jitter_is_undone_by_the_opposite_shift_and_blur_works_in_place():
    X = torch.randn(1, 3, 9, 11)
    assert torch.equal(nv.jitter(nv.jitter(X, 3, -2), -3, 2), X)
    assert torch.equal(nv.jitter(X, 1, 0)[..., 1:], X[..., :-1])
    blurred = X.clone()
    assert nv.blur_image(blurred, sigma=1) is blurred
    assert blurred.std() < X.std()


def test_smoothgrad_averages_saliency_of_noisy_copies(offline):
    X, y = nv.preprocess(offline["images"][:2]), torch.from_numpy(offline["labels"][:2])
    smooth = nv.smoothgrad(X, y, offline["model"], num_samples=4)
    assert smooth.shape == (2, 32, 32)
    assert torch.allclose(
        nv.smoothgrad(X, y, offline["model"], num_samples=1, noise_level=0),
        nv.compute_saliency_maps(X, y, offline["model"]),
    )


def test_randomized_copy_redraws_weights_and_leaves_the_model_alone(offline):
    model = offline["model"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clone = nv.randomized_copy(model, seed=1)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    weights = [k for k in before if k.endswith("weight")]
    assert all(not torch.equal(clone.state_dict()[k], before[k]) for k in weights)
    assert not clone.training and not any(p.requires_grad for p in clone.parameters())


def test_rank_correlation_is_spearmans():
    a = torch.arange(12.0).reshape(3, 4)
    assert nv.rank_correlation(a, a**3) == pytest.approx(1)
    assert nv.rank_correlation(a, -a) == pytest.approx(-1)
    assert nv.rank_correlation(a, torch.zeros(3, 4)) == 0


def test_trained_net_passes_the_randomization_sanity_check(offline):
    """Saliency maps of the trained net and of a re-initialized copy should differ."""
    X, y = nv.preprocess(offline["images"][:8]), torch.from_numpy(offline["labels"][:8])
    trained = nv.compute_saliency_maps(X, y, offline["model"])
    random = nv.compute_saliency_maps(X, y, nv.randomized_copy(offline["model"]))
    correlations = [nv.rank_correlation(a, b) for a, b in zip(trained, random)]
    assert np.mean(correlations) < 0.6, correlations


def test_fooling_image_and_class_visualization_work_on_the_offline_net(offline):
    model = offline["model"]
    X = nv.preprocess(offline["images"][:1])
    target = (int(offline["labels"][0]) + 3) % 10
    fooled = nv.make_fooling_image(X, target, model)
    with torch.no_grad():
        assert model(fooled).argmax().item() == target
    shown = []
    img = nv.create_class_visualization(
        target,
        model,
        image_size=32,
        max_jitter=2,
        learning_rate=1,
        num_iterations=30,
        show_every=10,
        seed=0,
        show=lambda image, t: shown.append(t),
    )
    assert shown == [0, 10, 20, 29]
    with torch.no_grad():
        assert model(img).argmax().item() == target


def test_upsample_map_stretches_to_the_image_size():
    assert nv.upsample_map(torch.rand(2, 8, 8), (32, 32)).shape == (2, 32, 32)
