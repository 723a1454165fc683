"""What a backbone makes of photos: the evaluation inputs (the chapter's Resize 256,
CenterCrop 224, then the backbone's normalisation) and the pooled features, in evaluation mode.
"""

from __future__ import annotations

import torch

from cnnviz.train.transfer import augment
from cnnviz.train.transfer.photo_set import PhotoSet
from cnnviz.train.transfer.network import TransferNet

FEATURE_BATCH = 16  # photos through the backbone at once outside training: ~20 MB each


def eval_inputs(photos: PhotoSet, index, norm: augment.Normalisation) -> torch.Tensor:
    """The chapter's evaluation transform (Resize 256, CenterCrop 224) and the backbone's
    normalisation: (N, 3, 224, 224)."""
    return torch.stack([augment.to_input(augment.centre(photos.image(int(i))), norm)
                        for i in index])


@torch.inference_mode()
def features(net: TransferNet, inputs: torch.Tensor, batch_size: int = FEATURE_BATCH) -> torch.Tensor:
    """The backbone's pooled features of prepared inputs, in evaluation mode, on the CPU."""
    net.eval()
    device = next(net.parameters()).device
    return torch.cat([net.backbone(inputs[i:i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(inputs), batch_size)])
