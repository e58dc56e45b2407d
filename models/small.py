"""Small-input variants of the zoo for 28x28 greyscale images (Fashion-MNIST), 10 classes.

They keep each family's blocks and change only what the input size forces: a stride-1 stem
without max pooling and fewer, narrower stages, so that they train on two CPU cores in minutes
and structured pruning can be judged on accuracy as well as speed.

- ``ResNet8`` / ``ResNet20``: the CIFAR networks of He et al. (2016, section 4.2), 6n + 2 layers
  with n = 1 / 3, three stages of 16, 32 and 64 channels at 28, 14 and 7 pixels; shortcuts that
  change shape are 1x1 projections (the paper's option B) so that every layer is a convolution
  the compressor can prune.
- ``MobileNetV2Small``: MobileNet-V2 at width 0.5 with a stride-1 stem and five stages whose
  strides take 28 to 7, and a 512-channel head.

References:
    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016.
    Sandler, Howard, Zhu, Zhmoginov, Chen. MobileNetV2: Inverted Residuals and Linear
    Bottlenecks. CVPR 2018.
"""

from functools import partial

from models.mobilenet_v2 import MobileNetV2, Stage
from models.resnet import BasicBlock, ResNet

_cifar_resnet = partial(
    ResNet,
    block_cls=BasicBlock,
    widths=(16, 32, 64),
    in_features=1,
    stem_kernel=3,
    stem_stride=1,
    stem_pool=False,
    num_classes=10,
)
ResNet8 = partial(_cifar_resnet, stage_sizes=(1, 1, 1))
ResNet20 = partial(_cifar_resnet, stage_sizes=(3, 3, 3))

# Table 2 of MobileNet-V2 cut after the 96-channel stage, at 28 -> 28 -> 14 -> 7 -> 7 pixels.
SMALL_STAGES: tuple[Stage, ...] = (
    Stage(1, 16, 1, 1),
    Stage(6, 24, 2, 1),
    Stage(6, 32, 3, 2),
    Stage(6, 64, 3, 2),
    Stage(6, 96, 2, 1),
)

MobileNetV2Small = partial(
    MobileNetV2,
    width_mult=0.5,
    stages=SMALL_STAGES,
    stem_strides=1,
    last_channel=512,
    in_features=1,
    num_classes=10,
)
