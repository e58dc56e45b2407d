"""Flax NNX model zoo: definitions only, and a registry of them by name."""

from collections.abc import Callable

from flax import nnx

from .alexnet import AlexNet as AlexNet
from .inception_v3 import InceptionV3 as InceptionV3
from .lenet import LeNet5 as LeNet5
from .lenet import SmallCNN as SmallCNN
from .mobilenet_v1 import MobileNetV1 as MobileNetV1
from .mobilenet_v2 import MobileNetV2 as MobileNetV2
from .resnet import ResNet18 as ResNet18
from .resnet import ResNet34 as ResNet34
from .resnet import ResNet50 as ResNet50
from .small import MobileNetV2Small as MobileNetV2Small
from .small import ResNet8 as ResNet8
from .small import ResNet20 as ResNet20
from .vgg import VGG16 as VGG16

# To add a family: define it in its own file and add one line here. Every constructor takes
# keyword-only ``num_classes`` and ``rngs``.
#: Models for 28x28x1 inputs (Fashion-MNIST): what ``cadnn compress --model`` accepts.
MODELS: dict[str, Callable[..., nnx.Module]] = {
    "lenet5": LeNet5,
    "small_cnn": SmallCNN,
    "resnet8": ResNet8,
    "resnet20": ResNet20,
    "mobilenet_v2_small": MobileNetV2Small,
}

#: ImageNet-shaped models (NHWC, 3 channels) and their input sides, for lowering benchmarks.
IMAGENET_MODELS: dict[str, tuple[Callable[..., nnx.Module], int]] = {
    "alexnet": (AlexNet, 224),
    "vgg16": (VGG16, 224),
    "resnet18": (ResNet18, 224),
    "resnet34": (ResNet34, 224),
    "resnet50": (ResNet50, 224),
    "mobilenet_v1": (MobileNetV1, 224),
    "mobilenet_v2": (MobileNetV2, 224),
    "inception_v3": (InceptionV3, 299),
}


def get_model(name: str, *, rngs: nnx.Rngs, num_classes: int = 10) -> nnx.Module:
    """Builds a registered model by name.

    Args:
      name: a key of ``MODELS``, e.g. ``"lenet5"``.
      rngs: random streams for initialisation.
      num_classes: number of output logits.

    Returns:
      The freshly initialised module.

    Raises:
      ValueError: if ``name`` is not registered.
    """
    if name not in MODELS:
        raise ValueError(f"name must be one of {sorted(MODELS)}, got {name!r}.")
    return MODELS[name](num_classes=num_classes, rngs=rngs)


__all__ = [
    "IMAGENET_MODELS",
    "MODELS",
    "VGG16",
    "AlexNet",
    "InceptionV3",
    "LeNet5",
    "MobileNetV1",
    "MobileNetV2",
    "MobileNetV2Small",
    "ResNet8",
    "ResNet18",
    "ResNet20",
    "ResNet34",
    "ResNet50",
    "SmallCNN",
    "get_model",
]
