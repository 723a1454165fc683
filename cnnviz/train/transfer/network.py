"""A pretrained backbone with the chapter's new head, and its three fine-tuning phases.

The chapter's soil lab (ResNet-50, six soil types) replaces the final fully connected layer
with ``Linear(features, 256) → ReLU → Dropout(0.4) → Linear(256, n)`` and trains in phases:
the head alone at 1e-3, then the last two blocks and the head at 1e-4, then everything at 1e-5
with cosine annealing. Here the same works for any backbone of the zoo: whatever follows the
global pooling (ResNet's ``fc``; the dropout and ``classifier`` of MobileNetV2 and
EfficientNet-B0; Lite0's ``_dropout`` and ``_fc``) becomes the chapter's head.

"The last two blocks" are the last two residual units in execution order (ResNet-50's last
two bottlenecks, ``layer4.1`` and ``layer4.2``; the last two inverted-residual blocks of the
others), together with every layer after them (the final 1×1 convolution of the mobile
networks). The chapter's comment does not say whether it means blocks or whole stages;
``layer3`` and ``layer4`` together would be 94 % of ResNet-50's weights, which leaves
phase 3 almost nothing to add, so blocks it is.

The shared model of :func:`cnnviz.models.load_model` serves every browser session and is
never changed: :func:`build` works on a deep copy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torchvision
from torch import nn
from torchvision.models.efficientnet import MBConv
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck

from cnnviz import models
from cnnviz.models.efficientnet_lite import MBConvBlock

BACKBONES = ("efficientnet_lite0", "resnet50", "mobilenet_v2", "efficientnet_b0")
HIDDEN = 256
DROPOUT = 0.4
BLOCK_TYPES = (Bottleneck, BasicBlock, InvertedResidual, MBConv, MBConvBlock)
# What follows the global pooling in each architecture, replaced by the chapter's head.
CLASSIFIERS = ("fc", "classifier", "_dropout", "_fc")
BATCH_NORMS = nn.modules.batchnorm._BatchNorm  # BatchNorm1d/2d/3d and SyncBatchNorm


@dataclass(frozen=True)
class Phase:
    key: str  # "head", "last_blocks" or "all"
    title: str
    learning_rate: float
    epochs: int  # the chapter's
    cosine: bool  # cosine annealing of the learning rate over the phase


PHASES = (
    Phase("head", "Phase 1: the new head only", 1e-3, 5, False),
    Phase("last_blocks", "Phase 2: the last two blocks and the head", 1e-4, 10, False),
    Phase("all", "Phase 3: everything", 1e-5, 5, True),
)
PHASE_KEYS = tuple(p.key for p in PHASES)


def chapter_head(in_features: int, classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT),
                         nn.Linear(HIDDEN, classes))


class TransferNet(nn.Module):
    """``backbone`` (image → pooled feature vector) followed by ``head`` (vector → class scores).

    In training mode, backbone modules without trainable parameters stay in evaluation mode:
    a frozen layer then computes exactly the function it was pretrained with (batch norm with
    its running statistics, which it also keeps), so in phase 1 the backbone's features can be
    computed once and cached. With ``frozen_batch_norm`` every batch-norm layer stays in
    evaluation mode, trainable or not: it normalises with the running statistics of ImageNet
    and keeps them, and only its scale and shift learn.
    """

    def __init__(self, backbone: nn.Module, head: nn.Sequential, blocks: tuple[str, ...]):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.blocks = blocks  # names of the residual units in backbone, in execution order
        self.frozen_batch_norm = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        if mode:
            for module in self.backbone.modules():
                frozen = not any(p.requires_grad for p in module.parameters())
                if frozen or self.frozen_batch_norm and isinstance(module, BATCH_NORMS):
                    module.eval()
        return self

    def set_phase(self, key: str) -> int:
        """Make exactly the parameters of phase ``key`` trainable; returns how many there are."""
        if key not in PHASE_KEYS:
            raise ValueError(f"Unknown phase {key!r}; choose one of {', '.join(PHASE_KEYS)}.")
        self.requires_grad_(False)
        self.head.requires_grad_(True)
        if key == "all":
            self.backbone.requires_grad_(True)
        elif key == "last_blocks":
            for name in trainable_backbone_parameters(self):
                self.backbone.get_parameter(name).requires_grad_(True)
        return trainable_count(self)


def trainable_backbone_parameters(net: TransferNet) -> list[str]:
    """Backbone parameters of phase 2: those of the last two blocks and of every layer after
    them (parameters are registered in execution order in all the zoo's backbones)."""
    first = net.blocks[-2] + "."
    names = [name for name, _ in net.backbone.named_parameters()]
    start = next(i for i, name in enumerate(names) if name.startswith(first))
    return names[start:]


def trainable_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(bundle: models.ModelBundle, classes: int) -> TransferNet:
    """A private, trainable copy of ``bundle``'s network with the chapter's head for
    ``classes`` classes, on the bundle's device in float32; the shared model is untouched."""
    with bundle.lock:  # no tap hook of a concurrent capture may be copied along
        backbone = copy.deepcopy(bundle.model).float()
    return with_head(backbone, classes, bundle.name, bundle.device)


def with_head(backbone: nn.Module, classes: int, name: str,
              device: torch.device | str = "cpu") -> TransferNet:
    """``backbone`` itself (not a copy) with its classifier replaced by the chapter's head."""
    replaced = [n for n in CLASSIFIERS if isinstance(getattr(backbone, n, None), nn.Module)]
    if not replaced:
        raise models.ModelError(f"{name} has no classifier named "
                                f"{' or '.join(CLASSIFIERS)} to replace with the chapter's head.")
    for n in replaced:
        setattr(backbone, n, nn.Identity())
    backbone.eval()
    with torch.no_grad():
        width = backbone(torch.zeros(1, 3, 224, 224, device=device)).shape[1]
    blocks = tuple(n for n, module in backbone.named_modules() if isinstance(module, BLOCK_TYPES))
    if len(blocks) < 2:
        raise models.ModelError(f"{name} has fewer than two residual blocks, so phase 2 has "
                                f"nothing to unfreeze.")
    net = TransferNet(backbone, chapter_head(width, classes).to(device), blocks)
    net.set_phase("head")
    return net.eval()


def chapter_resnet50(classes: int = 6) -> tuple[dict[str, int], int, int]:
    """The soil lab's network counted: trainable parameters per phase, all parameters with
    the head, and all parameters of ResNet-50 as published (with its 1,000-class layer).
    Built from torchvision's architecture with random weights: counting needs no download."""
    resnet = torchvision.models.resnet50(weights=None)
    published = parameter_count(resnet)
    net = with_head(resnet, classes, "resnet50")
    return phase_counts(net), parameter_count(net), published


def phase_counts(net: TransferNet) -> dict[str, int]:
    """Trainable parameters in each phase (the net is left in phase 1's state)."""
    counts = {key: net.set_phase(key) for key in PHASE_KEYS}
    net.set_phase("head")
    return counts
