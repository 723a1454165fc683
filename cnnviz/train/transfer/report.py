"""What the lab's rubric asks of a fine-tuned classifier: test accuracy, per-class precision and
recall, the confusion matrix and its most confused pairs, MC-dropout uncertainty, the time
one image takes, and a Grad-CAM gallery of right and wrong answers per class, each photo with
the map of its top class beside the map of a wrong class (the chapter's exercise).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from cnnviz import cam, models
from cnnviz.train.transfer import augment
from cnnviz.train.transfer.backbone_features import eval_inputs, features
from cnnviz.train.evaluation import confusion_matrix
from cnnviz.train.transfer.photo_set import PhotoSet
from cnnviz.train.transfer.network import TransferNet

MC_PASSES = 10  # the chapter's stretch goal: "run inference 10 times with dropout enabled"
TIMED_IMAGES = 10


@dataclass(frozen=True)
class Evaluation:
    classes: tuple[str, ...]
    index: np.ndarray  # (N,) positions of the test photos in the PhotoSet
    labels: np.ndarray  # (N,) true classes
    probabilities: np.ndarray  # (N, C) softmax, dropout off
    mc_mean: np.ndarray  # (N, C) mean softmax over the MC-dropout passes
    mc_std: np.ndarray  # (N, C) its standard deviation
    ms_per_image: float  # median time of one image through the network, batch of one
    planned: int = 0  # photos in the test split, when only a sample of them was tested

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean())

    @property
    def confusion(self) -> np.ndarray:
        """(C, C) counts: row = true class, column = predicted class."""
        return confusion_matrix(self.labels, self.predictions, len(self.classes))

    @property
    def precision(self) -> np.ndarray:
        """Per class: of the photos predicted as it, the share that are it (NaN if none)."""
        matrix = self.confusion
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(matrix) / matrix.sum(axis=0)

    @property
    def recall(self) -> np.ndarray:
        """Per class: of its photos, the share predicted as it."""
        matrix = self.confusion
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(matrix) / matrix.sum(axis=1)

    def confused_pairs(self) -> list[tuple[str, str, int]]:
        """(true class, predicted class, count) of every mistake made, most frequent first."""
        matrix = self.confusion
        pairs = [(self.classes[t], self.classes[p], int(matrix[t, p]))
                 for t in range(len(self.classes)) for p in range(len(self.classes))
                 if t != p and matrix[t, p]]
        return sorted(pairs, key=lambda pair: -pair[2])

    @property
    def sampled(self) -> bool:
        """Whether only a sample of the test split was tested (the budget ran short)."""
        return len(self.labels) < self.planned

    @property
    def answer_spread(self) -> np.ndarray:
        """(N,) standard deviation over the dropout passes of each photo's answer's
        probability."""
        return self.mc_std[np.arange(len(self.labels)), self.mc_mean.argmax(axis=1)]

    def most_uncertain(self, k: int = 6) -> np.ndarray:
        """Rows of the ``k`` test photos whose answer's probability varies most over the
        dropout passes."""
        return np.argsort(-self.answer_spread, kind="stable")[:k]

    def other_class(self, row: int) -> int:
        """The wrong class to show beside the top class: the true class when the top class
        is wrong, else the most probable of the others."""
        top = int(self.predictions[row])
        if top != self.labels[row]:
            return int(self.labels[row])
        ranked = np.argsort(-self.probabilities[row], kind="stable")
        return int(next(c for c in ranked if c != top))


class EvalTransform:
    """A fine-tuned network's preprocessing: the chapter's Resize(256), CenterCrop(224), then
    the backbone's normalisation. Its repr names the normalisation (activation caches key on
    it)."""

    def __init__(self, norm: augment.Normalisation):
        self.norm = norm

    def __call__(self, img) -> torch.Tensor:
        return augment.to_input(augment.centre(img), self.norm)

    def __repr__(self) -> str:
        return f"EvalTransform(mean={self.norm.mean}, std={self.norm.std})"


def mc_dropout(net: TransferNet, feats: torch.Tensor, passes: int = MC_PASSES,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the softmax over ``passes`` passes of the head with its
    dropout on (Gal & Ghahramani, 2016).

    Dropout is the head's only random layer, so the backbone runs once (``feats``) and only the
    head's last layer sees the passes; the masks come from a private generator, so sessions
    sampling at once do not share random numbers and a seed repeats a result.
    """
    first, relu, dropout, last = net.head
    device = first.weight.device
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same masks on any device
    keep = 1.0 - dropout.p
    with torch.inference_mode():
        hidden = relu(first(feats.to(device)))
        probs = torch.stack([
            last(hidden * (torch.rand(hidden.shape, generator=generator) < keep).to(device)
                 / keep).softmax(dim=1) for _ in range(passes)]).cpu()
    return probs.mean(dim=0).numpy(), probs.std(dim=0).numpy()


def inference_ms(net: TransferNet, inputs: torch.Tensor) -> float:
    """Median milliseconds of one image through the whole network (batch of one)."""
    device = next(net.parameters()).device
    times = []
    with torch.inference_mode():
        net.eval()
        net(inputs[:1].to(device))  # warm-up
        for x in inputs[:TIMED_IMAGES]:
            start = time.perf_counter()
            net(x[None].to(device))
            if device.type == "cuda":  # the GPU works asynchronously: wait for the answer
                torch.cuda.synchronize(device)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def evaluate(net: TransferNet, photos: PhotoSet, index, norm: augment.Normalisation,
             passes: int = MC_PASSES, seed: int = 0, planned: int = 0) -> Evaluation:
    """Everything above for the photos at ``index`` (the test split, or a sample of its
    ``planned`` photos)."""
    index = np.asarray(index)
    inputs = eval_inputs(photos, index, norm)
    feats = features(net, inputs)
    with torch.inference_mode():
        head = net.head.eval()
        probs = head(feats.to(next(head.parameters()).device)).softmax(dim=1).cpu().numpy()
    mean, std = mc_dropout(net, feats, passes, seed)
    return Evaluation(photos.classes, index, photos.labels[index], probs, mean, std,
                      inference_ms(net, inputs), max(planned, len(index)))


def cam_gallery(bundle: models.ModelBundle, photos: PhotoSet, result: Evaluation,
                per_class: int = 2) -> dict[str, dict[str, list]]:
    """For up to ``per_class`` correct and ``per_class`` wrong test photos of each class, the
    Grad-CAM of the top class beside that of a wrong class (:meth:`Evaluation.other_class`):
    {class: {"correct": [(row, top map, other map)], "wrong": [...]}}."""
    chosen = {}
    for c, name in enumerate(result.classes):
        rows = np.flatnonzero(result.labels == c)
        chosen[name] = {"correct": rows[result.predictions[rows] == c][:per_class],
                        "wrong": rows[result.predictions[rows] != c][:per_class]}
    rows = [int(r) for kinds in chosen.values() for part in kinds.values() for r in part]
    if not rows:
        return {}
    targets = ([int(result.predictions[r]) for r in rows]
               + [result.other_class(r) for r in rows])
    images = [photos.image(int(result.index[r])) for r in rows]
    maps = cam.grad_cam(bundle, images + images, target=targets)
    pairs = {r: (maps[i], maps[len(rows) + i]) for i, r in enumerate(rows)}
    return {name: {kind: [(int(r), *pairs[int(r)]) for r in part] for kind, part in kinds.items()}
            for name, kinds in chosen.items()}
