"""The feature extractors of style transfer: VGG19 (with Keras' ImageNet weights) and random filters.

VGG19's convolutional part, as Keras names it: five blocks of 3x3 convolutions (padding 1, ReLU),
each block closed by a 2x2 pooling; no classifier.

    block1: conv1 conv2                 64 channels    full size
    block2: conv1 conv2                128             1/2
    block3: conv1 conv2 conv3 conv4    256             1/4
    block4: conv1 conv2 conv3 conv4    512             1/8
    block5: conv1 conv2 conv3 conv4    512             1/16

The weights are the Keras file `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (80 MB) that
`keras.applications.vgg19.VGG19(weights="imagenet", include_top=False)` downloads. Its layout (HDF5):

    /                       attrs["layer_names"] = [b"input_1", b"block1_conv1", ..., b"block5_pool"]
    /block1_conv1/          attrs["weight_names"] = [b"block1_conv1_W_1:0", b"block1_conv1_b_1:0"]
    /block1_conv1/block1_conv1_W_1:0   kernel (kh, kw, C_in, C_out) = (3, 3, 3, 64)   "HWIO"
    /block1_conv1/block1_conv1_b_1:0   bias (C_out,)

Newer Keras saves put the same arrays under `<layer>/<layer>/kernel:0` and `bias:0`; the loader
follows `weight_names` (or, without it, takes the 4-D and the 1-D dataset of the group), so both
read. minigrad's conv weight is (C_out, C_in, kh, kw) "OIHW": kernel.transpose(3, 2, 0, 1).
Both frameworks compute a cross-correlation, so no kernel flip is needed.

The network was trained on Caffe-style inputs: BGR channel order, 0..255, the ImageNet mean pixel
subtracted (no division by a std); `preprocess` / `deprocess` convert to and from RGB uint8.

Optionally, torchvision's VGG19 (vgg19-dcbb9e9d.pth) once converted to a .safetensors file (or a
NumPy .npz), no code inside; on a machine with torch and safetensors:
    python -c "import torch; from safetensors.torch import save_file; sd=torch.load('vgg19-dcbb9e9d.pth'); save_file({k: v for k, v in sd.items() if k.startswith('features.')}, 'vgg19_torchvision.safetensors')"
    python -c "import torch,numpy as np; sd=torch.load('vgg19-dcbb9e9d.pth'); np.savez('vgg19_torchvision.npz', **{k: v.numpy() for k, v in sd.items() if k.startswith('features.')})"
Its names are torchvision's: features.0.weight, features.0.bias, features.2.weight, ... (the indices
skip the ReLUs and pools); the convolutions are taken in index order. The weights are already OIHW
and expect RGB in 0..1 normalised by the ImageNet mean and std, so a .safetensors or .npz file
switches the preprocessing to that ("torch") convention. Nothing is downloaded: the .pth comes from
torchvision's model zoo (torchvision.models.vgg19(weights="IMAGENET1K_V1") caches it).

RandomFeatures is the fallback when no weights file exists: one layer of untrained random filters
at several sizes (Ustyuzhaninov et al. 2017, "Texture synthesis using shallow convolutional
networks with random filters"), see its docstring.
"""
import os

import numpy as np

import minigrad
import minigrad.nn as nn
import minigrad.nn.functional as F
from gans import extras

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URLS = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + WEIGHTS_FILE,
                "https://github.com/fchollet/deep-learning-models/releases/download/v0.1/" + WEIGHTS_FILE)
# where --weights is looked for when not given, in this order (Keras' own cache first)
DEFAULT_DIRS = ("~/.keras/models", "~/.cache/minigrad")

VGG19_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))   # (channels, convolutions) per block
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ----------------------------------------------------------------------------- images in and out of the network

def preprocess(rgb, convention="caffe"):
    """uint8 RGB (H, W, 3) -> float32 (1, 3, H, W) as the network was trained on.

    caffe: BGR, 0..255 minus the mean pixel (Keras' vgg19.preprocess_input); torch: RGB, (x/255 - mean) / std.
    """
    x = np.asarray(rgb, dtype=np.float32)
    if convention == "caffe":
        x = x[:, :, ::-1] - CAFFE_MEAN_BGR                 # (H, W, 3) BGR, centred
    else:
        x = (x / 255.0 - TORCH_MEAN_RGB) / TORCH_STD_RGB
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # (1, 3, H, W)


def deprocess(x, convention="caffe"):
    """The inverse of preprocess: (1, 3, H, W) -> uint8 RGB (H, W, 3), clipped to 0..255."""
    x = np.asarray(x, dtype=np.float32)[0].transpose(1, 2, 0)   # (H, W, 3)
    if convention == "caffe":
        x = (x + CAFFE_MEAN_BGR)[:, :, ::-1]
    else:
        x = (x * TORCH_STD_RGB + TORCH_MEAN_RGB) * 255.0
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- VGG19

class VGG19Features(nn.Module):
    """VGG19's convolutions, returning the activations (after ReLU) of the layers asked for by name.

    Args: pool "max" (Keras, the lecture) or "avg" (Gatys et al. found it gives smoother images);
    blocks: (channels, convolutions) per block, VGG19's by default (tests use a tiny one).
    Layers are attributes named as in Keras (self.block1_conv1 ...), so state_dict keys are
    "block1_conv1.weight". The weights are constants here: only the image gets gradients.
    """

    def __init__(self, pool="max", blocks=VGG19_BLOCKS, dtype=np.float32):
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"VGG19Features: pool must be 'max' or 'avg', got {pool!r}")
        self.pool = pool
        self.layer_names = []                  # in the order they are applied
        channels = 3
        for b, (width, convs) in enumerate(blocks, start=1):
            for c in range(1, convs + 1):
                name = f"block{b}_conv{c}"
                setattr(self, name, nn.Conv2d(channels, width, 3, padding=1, dtype=dtype))
                self.layer_names.append(name)
                channels = width
            self.layer_names.append(f"block{b}_pool")
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x, names):
        """x (1, 3, H, W) -> {name: activation} for each name in `names`; stops after the last one needed."""
        wanted, out = set(names), {}
        for name in self.layer_names:
            if not wanted - out.keys():
                break
            if name.endswith("pool"):
                x = F.max_pool2d(x, 2) if self.pool == "max" else F.avg_pool2d(x, 2)
            else:
                x = F.relu(getattr(self, name)(x))
            if name in wanted:
                out[name] = x
        return out


def find_weights(path=None):
    """The weights file to use: `path` if given (it must exist), else the first found in DEFAULT_DIRS, else None."""
    if path:
        if not os.path.isfile(os.path.expanduser(path)):
            raise FileNotFoundError(f"--weights {path}: no such file.\n{missing_weights_message()}")
        return os.path.expanduser(path)
    for folder in DEFAULT_DIRS:
        candidate = os.path.join(os.path.expanduser(folder), WEIGHTS_FILE)
        if os.path.isfile(candidate):
            return candidate
    return None


def missing_weights_message():
    places = " or ".join(os.path.join(d, WEIGHTS_FILE) for d in DEFAULT_DIRS)
    return (f"The pretrained VGG19 weights were not found. Get {WEIGHTS_FILE} (80 MB) from\n"
            f"    {WEIGHTS_URLS[0]}\n    (or {WEIGHTS_URLS[1]})\n"
            f"and put it at {places}, or pass --weights PATH. Nothing is downloaded automatically.")


def _keras_layer_arrays(group):
    """(kernel, bias) of one Keras layer group, read through its weight_names attribute when present."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
    if names:
        arrays = [np.asarray(group[n]) for n in names]
    else:
        arrays = []
        group.visititems(lambda _, obj: arrays.append(np.asarray(obj)) if hasattr(obj, "shape") else None)
    kernel = [a for a in arrays if a.ndim == 4]
    bias = [a for a in arrays if a.ndim == 1]
    if len(kernel) != 1 or len(bias) != 1:
        raise ValueError(f"{group.name}: expected one 4-D kernel and one 1-D bias, found shapes "
                         f"{[a.shape for a in arrays]}")
    return kernel[0], bias[0]


def load_keras_h5(model, path):
    """Copy a Keras VGG19 h5 file into `model`: kernel (kh, kw, I, O) -> weight (O, I, kh, kw)."""
    h5py = extras.require("h5py", "style", "reading Keras .h5 weights")
    with h5py.File(path, "r") as f:
        for name in model.layer_names:
            if name.endswith("pool"):
                continue
            if name not in f:
                raise KeyError(f"{path}: no layer group {name!r} (found {list(f.keys())[:8]} ...)")
            kernel, bias = _keras_layer_arrays(f[name])
            conv = getattr(model, name)
            weight = kernel.transpose(3, 2, 0, 1)                     # HWIO -> OIHW
            if weight.shape != conv.weight.shape or bias.shape != conv.bias.shape:
                raise ValueError(f"{path}: {name} has kernel {kernel.shape}, bias {bias.shape}; the model expects "
                                 f"weight {conv.weight.shape} (OIHW), bias {conv.bias.shape}")
            conv.weight.data[...] = weight
            conv.bias.data[...] = bias
    return model


def load_torchvision(model, arrays, path):
    """Copy torchvision's VGG19 'features.N.weight/bias' (already OIHW) from `arrays` (name -> array)
    into `model`, convolutions in index order; other names (a classifier.*) are ignored."""
    indices = sorted({int(k.split(".")[1]) for k in arrays if k.startswith("features.") and k.endswith(".weight")})
    convs = [n for n in model.layer_names if not n.endswith("pool")]
    if len(indices) != len(convs):
        raise ValueError(f"{path}: {len(indices)} convolutions (features.N.weight), the model has {len(convs)}")
    for i, name in zip(indices, convs):
        conv = getattr(model, name)
        for part, target in (("weight", conv.weight), ("bias", conv.bias)):
            key = f"features.{i}.{part}"
            if key not in arrays:
                raise ValueError(f"{path}: {key} is missing (needed for {name})")
            value = np.asarray(arrays[key].data if isinstance(arrays[key], minigrad.Tensor) else arrays[key])
            if value.shape != target.shape:
                raise ValueError(f"{path}: {key} has shape {value.shape}; {name}.{part} expects {target.shape}")
            target.data[...] = value
    return model


def load_torchvision_npz(model, path):
    """torchvision's VGG19 from a NumPy .npz of its features.* arrays (see the module docstring)."""
    with np.load(path, allow_pickle=False) as arrays:
        return load_torchvision(model, {k: arrays[k] for k in arrays.files}, path)


def load_torchvision_safetensors(model, path):
    """torchvision's VGG19 from a .safetensors file of its state_dict (see the module docstring)."""
    return load_torchvision(model, minigrad.load_safetensors(path), path)


def pretrained_vgg19(path, pool="max"):
    """(model, preprocessing convention) from a Keras .h5 or a converted torchvision .safetensors / .npz file."""
    model = VGG19Features(pool)
    if path.endswith(".safetensors"):
        return load_torchvision_safetensors(model, path), "torch"
    if path.endswith(".npz"):
        return load_torchvision_npz(model, path), "torch"
    return load_keras_h5(model, path), "caffe"


# ----------------------------------------------------------------------------- the untrained fallback

RANDOM_SIZES = (3, 5, 7, 11, 15, 23, 37, 55)


class RandomFeatures(nn.Module):
    """One layer of random, untrained filters at several sizes, each followed by ReLU.

    Ustyuzhaninov et al. (2017) show that matching Gram matrices of such a single layer (they use
    128 filters at each of the sizes 3, 5, 7, 11, 15, 23, 37, 55 px) already synthesises textures:
    the multi-scale receptive fields, not training, carry most of the style. Weights ~ N(0, 1/fan_in).

    Two departures, for speed on a CPU: a filter of size k slides with stride max(1, k // 4)
    (every pixel is still under about 4x4 windows of each size; the Gram matrix is an average over
    positions, so fewer positions estimate the same statistic), and `n_filters` may be lowered.
    Sizes above half the image's side are skipped. forward returns {"random_k": (1, n_filters, Ho, Wo)}.
    """

    def __init__(self, n_filters=128, sizes=RANDOM_SIZES, image_size=None, seed=0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.sizes = [k for k in sizes if image_size is None or k <= image_size // 2]
        self.layer_names = [f"random_{k}" for k in self.sizes]
        for k in self.sizes:
            weight = rng.standard_normal((n_filters, 3, k, k)) / np.sqrt(3 * k * k)
            setattr(self, f"random_{k}", minigrad.tensor(weight.astype(dtype)))

    def forward(self, x, names=None):
        out = {}
        for k, name in zip(self.sizes, self.layer_names):
            if names is None or name in names:
                out[name] = F.relu(F.conv2d(x, getattr(self, name), stride=max(1, k // 4)))
        return out
