"""Equivariance and invariance, measured on a real network: the chapter says a convolution
shifts its map with the input and pooling makes the answer (somewhat) indifferent to shifts.

Shifts are made as Zhang does ("Making Convolutional Networks Shift-Invariant Again", ICML
2019): the photo is resized so that its shorter side is the model's input plus 32 pixels,
centre-cropped to a square, and the network sees input-sized windows of that square at
different offsets. A shift brings new photo in at one edge, never an empty strip.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cnnviz import activations
from cnnviz.insight.receptive import receptive_fields
from cnnviz.models import ModelBundle

MARGIN = 32  # Zhang's: 224-pixel crops of a 256-pixel image
# Zhang (2019), Table in the authors' repository (adobe/antialiased-cnns, README_IMAGENET.md),
# ImageNet validation, two random 224 crops of the 256 centre crop: ResNet-50 as torchvision
# trained it agrees with itself 89.20 % of the time (top-1 76.16 %); with a Bin-5 blur before
# every downsampling, 91.31 %.
ZHANG_RESNET50 = dict(baseline=89.20, blurred=91.31, top1=76.16)


def input_size(bundle: ModelBundle) -> int:
    return int(bundle.preprocess(Image.new("RGB", (64, 64)))[0].shape[-1])


def canvas(bundle: ModelBundle, img: Image.Image) -> torch.Tensor:
    """(3, S + 32, S + 32): the photo's centre square at the model's input size plus the
    margin, normalised as the model expects (S: the model's input side)."""
    side = input_size(bundle) + MARGIN
    width, height = img.size
    short = min(width, height)
    left, top = (width - short) / 2, (height - short) / 2
    square = img.convert("RGB").resize((side, side), Image.BICUBIC,
                                       box=(left, top, left + short, top + short))
    pixels = torch.from_numpy(np.asarray(square, dtype=np.float32).copy()).permute(2, 0, 1)
    offset, scale = activations.normalisation(bundle)
    return pixels * scale + offset


def view(board: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """The photo moved right by ``dx`` and down by ``dy`` pixels (−16 to 16): the window
    centred on the canvas moves the other way."""
    if max(abs(dx), abs(dy)) > MARGIN // 2:
        raise ValueError(f"a shift is at most {MARGIN // 2} pixels each way, not ({dx}, {dy})")
    size = board.shape[-1] - MARGIN
    top, left = MARGIN // 2 - dy, MARGIN // 2 - dx
    return board[:, top:top + size, left:left + size]


@dataclass(frozen=True)
class StageShift:
    """How a stage's map of the shifted photo compares with its map of the photo, shifted."""

    stage: str
    layer: str
    jump: int  # the stage's cumulative stride
    cells: tuple[float, float]  # the shift in map cells (dy, dx) / jump
    multiple: bool  # whether the shift is a whole number of cells
    correlation: float  # over the positions both maps have
    max_difference: float  # largest |difference| there, relative to the map's largest |value|
    interior: int  # positions whose receptive field lies inside the image in both maps
    interior_difference: float | None  # the largest relative difference at those
    shifted: np.ndarray  # (H, W) the strongest channel, of the shifted photo
    expected: np.ndarray  # (H, W) that channel of the photo, moved by the shift (NaN: unknown)


def _overlap(n: int, t: int) -> tuple[slice, slice]:
    """Cells of the shifted map and of the original that show the same place, for a shift
    of t cells."""
    return (slice(t, n), slice(0, n - t)) if t >= 0 else (slice(0, n + t), slice(-t, n))


def _inside(field, n: int, size: int) -> np.ndarray:
    first = field.start + np.arange(n) * field.jump
    return (first >= 0) & (first + field.size <= size)


def stage_shifts(bundle: ModelBundle, img: Image.Image, dx: int, dy: int) -> list[StageShift]:
    """Every stage's map (``activations.stage_ends``) of the photo shifted by (dx, dy), against
    the photo's map shifted by (dx, dy) / cumulative stride, rounded to whole cells."""
    board = canvas(bundle, img)
    ends = activations.stage_ends(bundle)
    names = [end.name for _, end in ends]
    batch = torch.stack([view(board, 0, 0), view(board, dx, dy)]).to(bundle.device)
    with torch.inference_mode():
        _, taps = activations.forward_with_taps(bundle, batch, names)
    fields = receptive_fields(bundle)
    size = batch.shape[-1]
    results = []
    for stage, end in ends:
        maps = taps[end.name].float().cpu().numpy()
        base, moved = maps[0], maps[1]
        rows, cols = fields[end.name] or (None, None)
        jump = rows.jump if rows else size // base.shape[1]
        cells = (dy / jump, dx / jump)
        ty, tx = round(cells[0]), round(cells[1])
        (my, oy), (mx, ox) = _overlap(base.shape[1], ty), _overlap(base.shape[2], tx)
        a, b = moved[:, my, mx], base[:, oy, ox]
        scale = float(np.abs(base).max()) or 1.0
        correlation = _correlation(a, b)
        difference = float(np.abs(a - b).max()) / scale if a.size else math.nan
        interior, interior_difference = 0, None
        if rows is not None:
            keep = (_inside(rows, base.shape[1], size)[my][:, None]
                    & _inside(rows, base.shape[1], size)[oy][:, None]
                    & _inside(cols, base.shape[2], size)[mx][None, :]
                    & _inside(cols, base.shape[2], size)[ox][None, :])
            interior = int(keep.sum())
            if interior:
                interior_difference = float(np.abs(a - b)[:, keep].max()) / scale
        strongest = int(np.argmax(base.reshape(len(base), -1).max(axis=1)))
        expected = np.full(base.shape[1:], np.nan, dtype=np.float32)
        expected[my, mx] = base[strongest][oy, ox]
        results.append(StageShift(stage, end.name, jump, cells, ty == cells[0] and tx == cells[1],
                                  correlation, difference, interior, interior_difference,
                                  moved[strongest], expected))
    return results


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(frozen=True)
class Prediction:
    shift: int  # pixels, along the diagonal
    index: int
    category: str
    probability: float


def diagonal_predictions(bundle: ModelBundle, img: Image.Image,
                         shifts=range(MARGIN + 1)) -> list[Prediction]:
    """Top-1 and its probability with the window moved s pixels down and right, s = 0 … 32,
    as in Zhang's diagonal plots."""
    board = canvas(bundle, img)
    size = board.shape[-1] - MARGIN
    shifts = list(shifts)
    if any(not 0 <= s <= MARGIN for s in shifts):
        raise ValueError(f"diagonal shifts run from 0 to {MARGIN} pixels")
    batch = torch.stack([board[:, s:s + size, s:s + size] for s in shifts])
    probs = _probabilities(bundle, batch)
    best = probs.argmax(dim=1)
    return [Prediction(s, int(i), bundle.categories[int(i)], float(probs[k, i]))
            for k, (s, i) in enumerate(zip(shifts, best))]


def _probabilities(bundle: ModelBundle, batch: torch.Tensor, chunk: int = 12) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([bundle.model(part.to(bundle.device)).softmax(dim=1).cpu()
                          for part in batch.split(chunk)])


@dataclass(frozen=True)
class Consistency:
    """Zhang's consistency: how often two random crops of a photo get the same top-1."""

    agree: int
    pairs: int
    per_photo: dict[str, float]

    @property
    def rate(self) -> float:
        return self.agree / self.pairs

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Wilson's 95 % interval of the rate (few photos: it is wide)."""
        n, p = self.pairs, self.rate
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half


def consistency(bundle: ModelBundle, photos: dict[str, Image.Image], *, pairs: int = 16,
                seed: int = 0) -> Consistency:
    """For each photo, ``pairs`` pairs of random offsets in [0, 32) on each axis (Zhang's
    ``randint(32)``), the two crops classified; the share of pairs whose top-1 agree."""
    if not photos:
        raise ValueError("consistency needs at least one photo")
    rng = np.random.default_rng(seed)
    agree, per_photo = 0, {}
    for name, img in photos.items():
        board = canvas(bundle, img)
        size = board.shape[-1] - MARGIN
        offsets = rng.integers(0, MARGIN, size=(pairs, 2, 2))
        batch = torch.stack([board[:, y:y + size, x:x + size]
                             for pair in offsets for y, x in pair])
        top = _probabilities(bundle, batch).argmax(dim=1).view(pairs, 2)
        same = int((top[:, 0] == top[:, 1]).sum())
        agree += same
        per_photo[name] = same / pairs
    return Consistency(agree, pairs * len(photos), per_photo)
