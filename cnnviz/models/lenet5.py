"""LeNet-5 as LeCun, Bottou, Bengio and Haffner describe it in "Gradient-Based Learning Applied
to Document Recognition" (Proc. IEEE 86(11), 1998), section II-B: 32×32 input, seven layers,
exactly 60,000 trainable parameters.

The version most PyTorch tutorials call LeNet-5 has 61,706 parameters, because it simplifies
three things the paper does differently:

- C3 connects each of its 16 maps to only some of S2's 6 maps (the paper's Table I), to break
  symmetry and save connections: 1,516 parameters instead of a full 6→16 convolution's 2,416;
- S2 and S4 *subsample*: each map sums 2×2 neighbourhoods and scales the sum by one trainable
  coefficient plus one trainable bias (12 and 32 parameters), where tutorials use parameter-free
  max or average pooling;
- the output layer is 10 Euclidean radial-basis-function units whose 84-dimensional centres are
  fixed, not learned, where tutorials use a trainable 84→10 linear layer (850 parameters).

60,000 + 900 (full C3) − 44 (pooling instead of subsampling) + 850 (linear output) = 61,706.
"""

import torch
from torch import nn

# Table I of the paper: the S2 maps (0..5) that each C3 map (0..15) reads. Maps 0-5 read three
# neighbouring maps, 6-11 four neighbouring maps, 12-14 four non-neighbouring ones, 15 all six.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# The paper's per-layer trainable parameter counts (section II-B), in layer order.
PAPER_PARAMETERS = {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164}
TUTORIAL_PARAMETERS = 61_706  # the common PyTorch simplification described above

# f(a) = A·tanh(S·a) with A = 1.7159 and S = 2/3 (the paper's appendix A), so that f(±1) = ±1.
TANH_AMPLITUDE = 1.7159
TANH_SLOPE = 2.0 / 3.0


class ScaledTanh(nn.Module):
    """The paper's squashing function, used after every layer up to F6."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return TANH_AMPLITUDE * torch.tanh(TANH_SLOPE * x)


class Subsampling(nn.Module):
    """S2 / S4: the sum of each non-overlapping 2×2 block, times a trainable coefficient, plus a
    trainable bias, one pair per map (2 parameters per map).

    Computed as what it is, a depthwise 2×2 convolution of stride 2 whose four weights are one
    shared coefficient: a layer with trained weights, which the architecture page's depth
    counts (the paper: "all of which contain trainable parameters")."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.weight[:, None, None, None].expand(-1, 1, 2, 2)
        return nn.functional.conv2d(x, kernel, self.bias, stride=2, groups=x.shape[1])


class PartialConv2d(nn.Module):
    """A convolution in which output map j sees only the input maps listed in ``table[j]``.

    Maps with the same number of inputs are computed by one grouped convolution over the
    gathered input maps, so parameters and multiply-accumulates are exactly those of the
    connections that exist (a dense kernel with a zero mask would count the missing ones).
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel_size: int):
        super().__init__()
        fan_ins = sorted({len(inputs) for inputs in table})
        self.groups = nn.ModuleList()
        order = []
        for fan_in in fan_ins:
            maps = [j for j, inputs in enumerate(table) if len(inputs) == fan_in]
            gathered = [i for j in maps for i in table[j]]
            self.register_buffer(f"gather_{fan_in}", torch.tensor(gathered), persistent=False)
            self.groups.append(nn.Conv2d(len(gathered), len(maps), kernel_size, groups=len(maps)))
            order += maps
        # the position of each output map among the concatenated group outputs
        self.register_buffer("order", torch.argsort(torch.tensor(order)), persistent=False)
        self.fan_ins = fan_ins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [conv(x.index_select(1, getattr(self, f"gather_{fan_in}")))
                   for fan_in, conv in zip(self.fan_ins, self.groups)]
        return torch.cat(outputs, dim=1).index_select(1, self.order)


class EuclideanRBF(nn.Module):
    """The output layer: y_i = Σ_j (x_j − w_ij)², the squared distance from F6's 84 outputs to a
    fixed code for class i. The paper drew the codes as stylized 7×12 bitmaps of the characters
    (entries ±1); here they are ±1 codes from a fixed seed, kept as a buffer: not trainable.

    Returns −y_i, so that, as with logits, the largest output is the predicted class.
    """

    def __init__(self, in_features: int = 84, classes: int = 10, seed: int = 1998):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (classes, in_features), generator=generator) * 2.0 - 1.0
        self.register_buffer("centres", codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ‖x − w‖² = ‖x‖² − 2·x·w + ‖w‖², as one matrix product
        distance = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.centres.T
                    + self.centres.pow(2).sum(1))
        return -distance


class LeNet5(nn.Module):
    """32×32 grey image → 10 class scores, layer names as in the paper (C = convolution,
    S = subsampling, F = fully connected)."""

    input_shape = (1, 32, 32)

    def __init__(self):
        super().__init__()
        self.C1 = nn.Conv2d(1, 6, 5)  # 6·(25 + 1) = 156
        self.S2 = Subsampling(6)  # 6·2 = 12
        self.C3 = PartialConv2d(C3_TABLE, 5)  # 6·(3·25 + 1) + 9·(4·25 + 1) + (6·25 + 1) = 1,516
        self.S4 = Subsampling(16)  # 16·2 = 32
        self.C5 = nn.Conv2d(16, 120, 5)  # 120·(16·25 + 1) = 48,120
        self.F6 = nn.Linear(120, 84)  # 84·(120 + 1) = 10,164
        self.output = EuclideanRBF(84, 10)
        self.act = ScaledTanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-3:] != self.input_shape:
            raise ValueError(f"LeNet-5 takes (N, 1, 32, 32) images, got {tuple(x.shape)}")
        x = self.act(self.S2(self.act(self.C1(x))))
        x = self.act(self.S4(self.act(self.C3(x))))
        x = self.act(self.C5(x)).flatten(1)
        return self.output(self.act(self.F6(x)))
