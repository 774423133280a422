"""Network visualization: what a trained classifier looks at, and how to fool it.

Four functions for Network_Visualization.ipynb, all built on one idea: the gradient of a
class score with respect to an image (or to a layer's activations) says which pixels (or
features) the score depends on.

- compute_saliency_maps: |d score / d pixel|, max over colour channels (Simonyan et al. 2014)
- make_fooling_image: gradient ascent on a wrong class until the model predicts it
  (Szegedy et al. 2014)
- class_visualization_update_step: one step of gradient ascent on a class score minus an
  L2 penalty, the core of class visualization (Simonyan et al. 2014, Yosinski et al. 2015)
- compute_grad_cam: gradient-weighted class activation maps of the last convolutional block
  (Selvaraju et al. 2017)

Provided: preprocessing of images, SmoothGrad (Smilkov et al. 2017), the model-randomization
sanity check (Adebayo et al. 2018), the class visualization loop, and the loader that picks
the model and images (SqueezeNet on ImageNet images when downloaded, else a small net on the
embedded images).

Every model here splits in two: `model.features(X)` is the output of the last convolutional
block, (N, K, H', W'), and `model.head(A)` the class scores (N, C) computed from it, so that
`model(X)` equals `model.head(model.features(X))`. Models are frozen (requires_grad False on
every parameter): the gradients we want are with respect to images or activations.
"""

import copy
import os

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d
from scipy.stats import spearmanr

# The mean and standard deviation of ImageNet's pixels in 0..1, per RGB channel: SqueezeNet
# (and the embedded net, to keep one preprocessing) expects images normalized with them.
SQUEEZENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
SQUEEZENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
SOURCES = ("auto", "imagenet", "embedded")


# ------------------------------------------------------------------ images (provided)


def preprocess(images):
    """Images as the models expect them.

    Inputs:
    - images: uint8 (or 0..255 float) array (N, H, W, 3), or one image (H, W, 3)

    Returns:
    - X: float32 tensor (N, 3, H, W), each channel normalized with SQUEEZENET_MEAN and _STD
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"preprocess: expected images (N, H, W, 3) or one (H, W, 3), got shape {images.shape}"
        )
    X = (images / 255.0 - SQUEEZENET_MEAN) / SQUEEZENET_STD  # (N, H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))


def deprocess(X, should_rescale=True):
    """Undo preprocess, for plt.imshow.

    Inputs:
    - X: tensor (N, 3, H, W) or (3, H, W) of normalized images
    - should_rescale: stretch each image to the full 0..255 range (class visualizations
      have no natural brightness)

    Returns:
    - images: uint8 array (N, H, W, 3), or (H, W, 3) for one image
    """
    x = X.detach().cpu().numpy().astype(np.float32)
    single = x.ndim == 3
    x = x[None] if single else x
    x = x.transpose(0, 2, 3, 1) * SQUEEZENET_STD + SQUEEZENET_MEAN  # (N, H, W, 3) in 0..1
    if should_rescale:
        low = x.min(axis=(1, 2, 3), keepdims=True)
        high = x.max(axis=(1, 2, 3), keepdims=True)
        x = (x - low) / np.maximum(high - low, 1e-12)
    images = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    return images[0] if single else images


def jitter(X, ox, oy):
    """Shift images by ox pixels right and oy pixels down, wrapping around the borders.

    Inputs:
    - X: tensor (N, C, H, W)
    - ox, oy: integer shifts (negative shifts move left and up)

    Returns:
    - a new tensor (N, C, H, W)
    """
    return torch.roll(X, shifts=(oy, ox), dims=(2, 3))


def blur_image(X, sigma=1):
    """Blur images in place with a Gaussian of standard deviation sigma (pixels).

    Inputs:
    - X: tensor (N, C, H, W), changed in place
    - sigma: the Gaussian's standard deviation

    Returns:
    - X
    """
    x = X.detach().cpu().numpy()
    x = gaussian_filter1d(x, sigma, axis=2)
    x = gaussian_filter1d(x, sigma, axis=3)
    with torch.no_grad():
        X.copy_(torch.from_numpy(x))
    return X


# ------------------------------------------------------------------ saliency maps


def compute_saliency_maps(X, y, model):
    """Saliency maps: how much each pixel can change the score of the correct class.

    The saliency of pixel (i, j) of image n is |d s / d X[n, c, i, j]|, maximized over the
    colour channels c, where s = model(X)[n, y[n]] is the unnormalized score of the correct
    class (not its softmax probability, not the loss). Put the model in evaluation mode first
    (model.eval()): in training mode, batch normalization and dropout would make the maps
    depend on the rest of the batch and on chance.

    Inputs:
    - X: tensor (N, 3, H, W) of input images; leave it unchanged
    - y: int64 tensor (N,) of the images' labels
    - model: a pretrained model

    Returns:
    - saliency: tensor (N, H, W) of saliency maps
    """
    saliency = None
    ### BEGIN SOLUTION
    model.eval()
    X = X.detach().clone().requires_grad_()
    scores = model(X)  # (N, C)
    correct = scores.gather(1, y.view(-1, 1)).sum()  # the N scores s_y add up
    correct.backward()
    saliency = X.grad.abs().amax(dim=1)  # (N, H, W)
    ### END SOLUTION
    return saliency


def smoothgrad(X, y, model, num_samples=25, noise_level=0.15, seed=0):
    """SmoothGrad (Smilkov et al. 2017): saliency maps averaged over noisy copies of the images.

    A raw gradient is noisy: a ReLU network's gradient jumps as the input crosses the kinks of
    its ReLUs. Averaging the maps of num_samples copies of X, each with Gaussian noise of
    standard deviation noise_level * (max - min of the image) added, keeps what is stable.

    Inputs:
    - X, y, model: as for compute_saliency_maps
    - num_samples: number of noisy copies
    - noise_level: noise standard deviation relative to each image's range of values
    - seed: seed of the noise

    Returns:
    - saliency: tensor (N, H, W), the average of the maps
    """
    generator = torch.Generator().manual_seed(seed)
    spread = (X.amax(dim=(1, 2, 3)) - X.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1).cpu()
    total = torch.zeros(X.shape[0], *X.shape[2:], dtype=X.dtype)
    for _ in range(num_samples):
        noise = torch.randn(X.shape, generator=generator, dtype=X.dtype) * noise_level * spread
        total += compute_saliency_maps(X + noise.to(X.device), y, model).cpu()
    return total / num_samples


# ------------------------------------------------------------------ fooling images


def make_fooling_image(X, target_y, model):
    """An image close to X that the model classifies as target_y.

    Gradient ascent on the unnormalized score of target_y: repeat
    X_fooling += learning_rate * g / ||g||_2, where g is the gradient of
    model(X_fooling)[0, target_y] with respect to X_fooling, until the model predicts
    target_y, and at most 100 times. Check the prediction before each step, so that the loop
    stops as soon as the model is fooled. Put the model in evaluation mode first.

    Inputs:
    - X: tensor (1, 3, H, W), the image to start from; leave it unchanged
    - target_y: an integer in [0, num_classes)
    - model: a pretrained model

    Returns:
    - X_fooling: tensor (1, 3, H, W) that model classifies as target_y
    """
    # The classic's step size: each step moves the image by exactly 1 (in L2 norm).
    learning_rate = 1
    X_fooling = None
    ### BEGIN SOLUTION
    model.eval()
    X_fooling = X.detach().clone().requires_grad_()
    for _ in range(100):
        scores = model(X_fooling)  # (1, C)
        if scores.argmax(dim=1).item() == target_y:
            break
        scores[0, target_y].backward()
        g = X_fooling.grad
        with torch.no_grad():
            X_fooling += learning_rate * g / g.norm()
        X_fooling.grad.zero_()
    X_fooling = X_fooling.detach()
    ### END SOLUTION
    return X_fooling


# ------------------------------------------------------------------ class visualization


def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
    """One step of gradient ascent on s_y(img) - l2_reg * ||img||^2, in place.

    s_y is the unnormalized score of class target_y and ||img||^2 the sum of the squares of
    all the pixels of img. The step is normalized: img += learning_rate * g / ||g||_2, where g
    is the gradient of the objective with respect to img. Leave img.grad at zero afterwards,
    so that the next step starts afresh (gradients accumulate in PyTorch).

    Inputs:
    - img: tensor (1, 3, H, W) with requires_grad=True, updated in place
    - model: a pretrained model
    - target_y: an integer in [0, num_classes)
    - l2_reg: the strength of the L2 penalty
    - learning_rate: the length of the step

    Returns:
    - nothing; img holds the updated image
    """
    ### BEGIN SOLUTION
    objective = model(img)[0, target_y] - l2_reg * (img * img).sum()
    objective.backward()
    with torch.no_grad():
        img += learning_rate * img.grad / img.grad.norm()
        img.grad.zero_()
    ### END SOLUTION


def create_class_visualization(
    target_y,
    model,
    *,
    image_size=224,
    l2_reg=1e-3,
    learning_rate=25,
    num_iterations=100,
    blur_every=10,
    max_jitter=16,
    show_every=25,
    show=None,
    seed=None,
    device="cpu",
):
    """An image that maximizes the score of target_y, from random noise (provided).

    Each iteration jitters the image by a random shift, takes one update step, shifts it
    back, clamps each pixel to what preprocess can produce and every blur_every iterations
    blurs it a little: jitter and blur act as implicit regularizers (Yosinski et al. 2015).

    Inputs:
    - target_y: the class to visualize
    - model: a pretrained model, frozen and in evaluation mode
    - image_size: height and width of the image
    - l2_reg, learning_rate: passed to class_visualization_update_step
    - num_iterations: number of update steps
    - blur_every: blur with sigma 0.5 every blur_every iterations
    - max_jitter: largest shift, in pixels
    - show_every: call show(img, t) every show_every iterations and after the last one
    - show: function of (img tensor (1, 3, H, W), iteration), or None
    - seed: seed of the starting noise and the jitter
    - device: where the image lives (the model's device)

    Returns:
    - img: tensor (1, 3, image_size, image_size), the visualization
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    img = torch.randn(1, 3, image_size, image_size, generator=generator).to(device)
    img.requires_grad_()
    shifts = np.random.RandomState(seed)
    low = torch.from_numpy(-SQUEEZENET_MEAN / SQUEEZENET_STD).to(device).view(1, 3, 1, 1)
    high = torch.from_numpy((1 - SQUEEZENET_MEAN) / SQUEEZENET_STD).to(device).view(1, 3, 1, 1)
    for t in range(num_iterations):
        ox, oy = shifts.randint(-max_jitter, max_jitter + 1, size=2)
        with torch.no_grad():
            img.copy_(jitter(img, ox, oy))
        class_visualization_update_step(img, model, target_y, l2_reg, learning_rate)
        with torch.no_grad():
            img.copy_(jitter(img, -ox, -oy))
            img.copy_(torch.maximum(torch.minimum(img, high), low))
        if blur_every and t % blur_every == 0:
            blur_image(img, sigma=0.5)
        if show is not None and (t % show_every == 0 or t == num_iterations - 1):
            show(img.detach(), t)
    return img.detach()


# ------------------------------------------------------------------ Grad-CAM


def compute_grad_cam(X, y, model):
    """Grad-CAM maps (Selvaraju et al. 2017): where the last conv block sees the correct class.

    With A = model.features(X), the activations (N, K, H', W') of the last convolutional
    block, and s = model.head(A)[n, y[n]] the unnormalized score of the correct class:
    - the weight of channel k is the gradient d s / d A[n, k] averaged over the H' x W'
      positions: alpha[n, k] = mean over (i, j) of d s / d A[n, k, i, j];
    - the map is ReLU(sum over k of alpha[n, k] * A[n, k]), of shape (H', W'): the ReLU
      keeps the evidence for the class and drops the evidence against it.
    Put the model in evaluation mode first.

    Inputs:
    - X: tensor (N, 3, H, W) of input images; leave it unchanged
    - y: int64 tensor (N,) of the images' labels
    - model: a pretrained model with model.features and model.head

    Returns:
    - cam: tensor (N, H', W') of Grad-CAM maps, at the resolution of the last block
    """
    cam = None
    ### BEGIN SOLUTION
    model.eval()
    A = model.features(X).detach().requires_grad_()  # (N, K, H', W')
    scores = model.head(A)  # (N, C)
    (dA,) = torch.autograd.grad(scores.gather(1, y.view(-1, 1)).sum(), A)
    alpha = dA.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cam = F.relu((alpha * A).sum(dim=1))  # (N, H', W')
    cam = cam.detach()
    ### END SOLUTION
    return cam


def upsample_map(maps, size):
    """Maps (N, h, w) stretched to (N, H, W) = size by bilinear interpolation, for display."""
    return F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)[
        :, 0
    ]


# ------------------------------------------------------------------ sanity check (provided)


def randomized_copy(model, seed=0):
    """A copy of model with every layer's weights drawn afresh (the model-randomization test
    of Adebayo et al. 2018): same architecture, same input, nothing learned."""
    torch.manual_seed(seed)
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if module is not clone and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    clone.eval()
    for param in clone.parameters():
        param.requires_grad_(False)
    return clone


def rank_correlation(map_a, map_b):
    """Spearman's rank correlation of two maps of the same shape: 1 when they order the pixels
    the same way, about 0 when the orders are unrelated. A constant map (a Grad-CAM map that
    the ReLU zeroed everywhere, say) orders nothing, so it shares no order: 0."""
    a = np.asarray(torch.as_tensor(map_a).detach().cpu(), dtype=np.float64).ravel()
    b = np.asarray(torch.as_tensor(map_b).detach().cpu(), dtype=np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


# ------------------------------------------------------------------ model and images (provided)


def load_model_and_images(num=5, source=None, device="cpu"):
    """The model and the images this notebook studies, and a line saying which they are.

    Inputs:
    - num: how many images
    - source: 'imagenet' (SqueezeNet 1.1 on the ImageNet validation sample; both must have
      been downloaded), 'embedded' (the small net trained on the embedded dataset, on its test
      images), or 'auto': ImageNet when both files are there; None means 'embedded' when the
      environment variable ASSIGNMENT_DATA is 'embedded' (as in the tests), else 'auto'
    - device: where to put the model

    Returns a dict with:
    - model: frozen, in evaluation mode
    - images: uint8 array (num, H, W, 3)
    - labels: int64 array (num,)
    - class_names: list of the class names, index i for class i
    - description: which model and data these are
    """
    from . import data_utils, embedded_cifar
    from .classifiers.embedded_convnet import load_embedded_convnet
    from .classifiers.squeezenet import load_squeezenet

    if source is None:
        source = "embedded" if os.environ.get("ASSIGNMENT_DATA") == "embedded" else "auto"
    if source not in SOURCES:
        raise ValueError(
            f"load_model_and_images: source must be one of {', '.join(SOURCES)}, got {source!r}"
        )
    weights = data_utils.datasets_dir() / data_utils.SQUEEZENET_FILE
    have_imagenet = weights.is_file() and data_utils.imagenet_val_path().is_file()
    if source == "imagenet" or (source == "auto" and have_imagenet):
        images, labels, _ = data_utils.load_imagenet_val(num=num)
        return {
            "model": load_squeezenet(device=device),
            "images": images,
            "labels": labels.astype(np.int64),
            "class_names": data_utils.load_imagenet_class_names(),
            "description": "SqueezeNet 1.1 pretrained on ImageNet, on images of the ImageNet "
            "validation sample (224 x 224)",
        }
    folder = embedded_cifar.generate(data_utils.embedded_dir())
    images, labels = data_utils.load_CIFAR_batch(folder / "test_batch")  # (N, 32, 32, 3)
    images, labels = images[:num].round().astype(np.uint8), labels[:num]
    why = (
        ""
        if source == "embedded"
        else (
            " (SqueezeNet's weights or the ImageNet sample are not downloaded; "
            f"{data_utils.fetch_command('squeezenet imagenet_val')} fetches them)"
        )
    )
    return {
        "model": load_embedded_convnet(device=device),
        "images": images,
        "labels": labels.astype(np.int64),
        "class_names": list(embedded_cifar.LABEL_NAMES),
        "description": "a small conv net trained on the embedded dataset, on its test images "
        f"(32 x 32){why}",
    }
