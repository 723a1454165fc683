"""The chapter's ``MNISTConvNet`` as written, and its shape comments checked against PyTorch.

Three Conv-BN-ReLU-MaxPool blocks (1→32→64→128), Flatten to 512, Linear 128, ReLU, Dropout
0.3, Linear 10. The chapter's comment on block 3 says 7×7×64 → 3×3×128, but its 3×3
convolution has no padding, so it gives 7 − 3 + 1 = 5: 5×5×128; the pool then floors 5/2 to 2
(as the chapter's next comment says): 2×2×128 = 512, which is what the code's
``nn.Linear(512, 128)`` declares. :func:`shape_comments` shows each comment next to the shape
PyTorch really produces where the comment points.
"""

from __future__ import annotations

import torch
from torch import nn


class MNISTConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            # Block 1: 28×28×1 → 14×14×32
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            # Block 2: 14×14×32 → 7×7×64
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            # Block 3: 7×7×64 → 5×5×128 (the chapter says 3×3×128) → pool → 2×2×128
            nn.Conv2d(64, 128, kernel_size=3, padding=0), nn.BatchNorm2d(128),
            nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # 2×2×128 = 512
            nn.Linear(512, 128), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


# The chapter's comments: the module whose output they describe, that module in words, the
# text (the chapter writes H×W×C), and the shape it claims as (C, H, W) or (features,).
CHAPTER_COMMENTS = (
    ("features.3", "block 1's pool", "Block 1: 28×28×1 → 14×14×32", (32, 14, 14)),
    ("features.7", "block 2's pool", "Block 2: 14×14×32 → 7×7×64", (64, 7, 7)),
    ("features.8", "block 3's convolution (3×3, no padding)", "Block 3: 7×7×64 → 3×3×128",
     (128, 3, 3)),
    ("features.11", "block 3's pool", "→ 2×2×128 (floor of 5/2)", (128, 2, 2)),
    ("classifier.0", "Flatten", "Flatten: 2×2×128 = 512", (512,)),
)


def shape_comments() -> list[dict]:
    """Each chapter comment with the shape a 28×28 digit really has there, and whether they
    agree."""
    model = MNISTConvNet().eval()
    shapes = {}
    hooks = [module.register_forward_hook(
        lambda m, i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, module in model.named_modules() if name]
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    return [{"after": name, "layer": layer, "comment": text, "claimed": claimed,
             "real": shapes[name], "agrees": claimed == shapes[name]}
            for name, layer, text, claimed in CHAPTER_COMMENTS]
