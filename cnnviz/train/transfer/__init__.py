"""The transfer-learning lab (the chapter's soil lab): a student's photos read from a zip,
split without cutting a group apart, a pretrained backbone fine-tuned in three phases, and
the report that follows.

The network itself lives in :mod:`.network`; its public names are repeated here so that
``transfer.build(bundle, classes)`` reads as the lab's verb.
"""

from cnnviz.train.transfer.network import (
    BACKBONES,
    PHASE_KEYS,
    PHASES,
    TransferNet,
    build,
    chapter_resnet50,
    parameter_count,
    phase_counts,
    trainable_count,
)

__all__ = ["BACKBONES", "PHASES", "PHASE_KEYS", "TransferNet", "build", "chapter_resnet50",
           "parameter_count", "phase_counts", "trainable_count"]
