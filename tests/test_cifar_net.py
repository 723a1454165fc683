"""He et al.'s CIFAR networks against the paper's numbers, torch's own count, and the identity."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.train import cifar_net
from cnnviz.train.depth.cifar_net import (
    DEPTHS,
    PAPER_PARAMETERS,
    layer_count,
    paper_rounding,
    parameter_count,
)
from cnnviz.train.depth.images32 import digits32


@pytest.fixture(scope="module")
def digits_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """32 real training digits, padded to 32×32 and standardised."""
    data = digits32()
    return data.tensors(data.train, 32)


def numel(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMETERS))
def test_resnets_have_the_papers_parameter_counts(depth):
    net = cifar_net(depth)
    # Table 6 of He et al. (2015), as printed: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M
    assert paper_rounding(numel(net), PAPER_PARAMETERS[depth]) == PAPER_PARAMETERS[depth]
    assert layer_count(net) == depth


def test_known_exact_counts_of_resnet_20_and_56():
    # 3×3 convolutions, two batch-norm parameters per channel, the 64→10 classifier
    convs_20 = 9 * (3 * 16 + 6 * 16 * 16 + 16 * 32 + 5 * 32 * 32 + 32 * 64 + 5 * 64 * 64)
    bn_20 = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    assert numel(cifar_net(20)) == convs_20 + bn_20 + 64 * 10 + 10 == 269_722
    assert numel(cifar_net(56)) == 853_018


@pytest.mark.parametrize("depth", DEPTHS[:3])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_worked_out_count_equals_torchs(depth, residual, batch_norm, shortcut):
    for width, in_channels, classes in [(16, 3, 10), (8, 1, 10), (24, 1, 7)]:
        options = dict(width=width, batch_norm=batch_norm, shortcut=shortcut,
                       in_channels=in_channels, num_classes=classes)
        assert parameter_count(depth, residual, **options)["total"] == numel(
            cifar_net(depth, residual, **options))


def test_plain_and_option_a_residual_networks_have_the_same_parameters():
    assert numel(cifar_net(56, residual=False)) == numel(cifar_net(56))
    assert numel(cifar_net(56, shortcut="B")) > numel(cifar_net(56))


@pytest.mark.parametrize("residual", [True, False])
def test_shapes_through_the_three_stages(residual):
    net = cifar_net(20, residual, width=8, in_channels=1)
    shapes = []
    for block in net.blocks:
        block.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    out = net(torch.randn(5, 1, 32, 32))
    assert out.shape == (5, 10)
    stages = [(5, 8, 32, 32)] * 3 + [(5, 16, 16, 16)] * 3 + [(5, 32, 8, 8)] * 3
    assert shapes == stages
    assert cifar_net(8)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("depth", [0, 7, 21, -4])
def test_depths_outside_the_family_are_refused(depth):
    with pytest.raises(ValueError, match="6n\\+2"):
        cifar_net(depth)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="activation"):
        cifar_net(20, activation="tanh")
    with pytest.raises(ValueError, match="shortcut"):
        cifar_net(20, shortcut="C")


def zero_branch(block: nn.Module) -> None:
    """Make F(x) = 0 exactly: the branch's last layer outputs zeros."""
    last = block.branch[-1] if isinstance(block.branch[-1], nn.BatchNorm2d) else block.branch[-2]
    with torch.no_grad():
        for p in last.parameters():
            p.zero_()


@pytest.mark.parametrize("batch_norm", [True, False])
def test_a_residual_block_with_its_branch_zeroed_is_the_identity(batch_norm, digits_batch):
    net = cifar_net(20, batch_norm=batch_norm, in_channels=1).train()
    inputs = []
    for block in net.blocks:
        zero_branch(block)
        block.register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
    with torch.no_grad():
        x = net.stem(digits_batch[0])
        outputs = [x := block(x) for block in net.blocks]
    assert (inputs[0] >= 0).all()  # what a block receives: a ReLU's output
    for block, x, y in zip(net.blocks, inputs, outputs):
        if isinstance(block.shortcut, nn.Identity):
            assert torch.equal(y, x)
        else:  # option A where the shape changes: every other pixel, and zeros for new channels
            sampled = x[:, :, ::2, ::2]
            assert torch.equal(y, torch.cat([sampled, torch.zeros_like(sampled)], dim=1))
    # all branches zeroed: the whole residual stack passes the stem's output straight through
    assert torch.equal(outputs[-1][:, :16], inputs[0][:, :, ::4, ::4])
    assert not outputs[-1][:, 16:].any()


def test_a_plain_block_with_its_branch_zeroed_is_not_the_identity(digits_batch):
    net = cifar_net(20, residual=False, in_channels=1).train()
    zero_branch(net.blocks[0])
    with torch.no_grad():
        x = net.stem(digits_batch[0])
        assert not net.blocks[0](x).any()


def test_sigmoid_network_uses_sigmoid_everywhere_and_trains_a_step(digits_batch):
    net = cifar_net(8, activation="sigmoid", in_channels=1)
    kinds = {type(m) for m in net.modules()}
    assert nn.Sigmoid in kinds and nn.ReLU not in kinds
    images, labels = digits_batch
    loss = F.cross_entropy(net(images), labels)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_digits_are_padded_with_background_and_standardised_on_the_training_digits():
    from cnnviz.train import mnist_split
    from cnnviz.train.depth.images32 import pad

    data, split = digits32(), mnist_split()
    assert data.train.images.shape == (len(split.train), 32, 32)
    assert (data.train.images[:, 2:30, 2:30] == split.train.images).all()
    border = data.train.images.copy()
    border[:, 2:30, 2:30] = 0
    assert not border.any()
    x, y = data.tensors(data.train)
    assert x.shape == (len(split.train), 1, 32, 32) and (y.numpy() == split.train.labels).all()
    assert x.mean().item() == pytest.approx(0, abs=1e-4)
    assert x.std().item() == pytest.approx(1, abs=1e-3)
    assert pad(np.zeros((1, 5, 6), np.uint8), 8).shape == (1, 8, 8)
    with pytest.raises(ValueError, match="fit"):
        pad(np.zeros((1, 33, 28), np.uint8))


def test_a_seed_gives_the_same_network_whatever_the_global_generator_did():
    torch.manual_seed(1)
    first = cifar_net(8, seed=5).state_dict()
    torch.manual_seed(2)
    torch.randn(100)
    again = cifar_net(8, seed=5).state_dict()
    other = cifar_net(8, seed=6).state_dict()
    for name, tensor in first.items():
        assert torch.equal(tensor, again[name]), name
    assert not torch.equal(first["head.2.weight"], other["head.2.weight"])
    assert not torch.equal(first["stem.0.weight"], other["stem.0.weight"])


def shortcuts_only(net, images: torch.Tensor) -> torch.Tensor:
    """The network's logits with every residual branch left out: x ↦ act(S(x)) block by block."""
    x = net.stem(images)
    for block in net.blocks:
        x = block.act(block.shortcut(x))
    return net.head(x)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_zero_init_starts_every_residual_block_as_its_shortcut(batch_norm, digits_batch):
    images, _ = digits_batch
    net = cifar_net(20, batch_norm=batch_norm, in_channels=1, seed=0, zero_init=True).train()
    outputs = []
    for block in net.blocks:
        block.branch.register_forward_hook(lambda m, args, out: outputs.append(out))
    logits = net(images)
    assert len(outputs) == 9 and all(not out.any() for out in outputs)
    assert torch.equal(logits, shortcuts_only(net, images))
    last = [block.branch[-1] if batch_norm else block.branch[-2] for block in net.blocks]
    assert all(isinstance(m, nn.BatchNorm2d if batch_norm else nn.Conv2d) for m in last)
    assert all(not m.weight.any() for m in last)  # γ = 0 (Goyal et al.), or the conv's weights
    # everything else is initialised as without zero_init
    usual = cifar_net(20, batch_norm=batch_norm, in_channels=1, seed=0)
    zeroed = {f"blocks.{k}.branch.{4 if batch_norm else 3}.weight" for k in range(9)}
    for (name, a), (_, b) in zip(net.named_parameters(), usual.named_parameters()):
        assert torch.equal(a, b) or name in zeroed, name


def test_without_batch_norm_the_residual_sums_blow_up_unless_branches_start_at_zero(
        digits_batch):
    """The page's explanation: each x + F(x) roughly doubles the second moment when F keeps
    its input's scale, so ResNet-56's logits (27 sums) are huge; zero-initialised branches keep
    the sum at its input's scale and the loss at chance (ln 10)."""
    images, labels = digits_batch
    net = cifar_net(56, batch_norm=False, in_channels=1, seed=0).train()
    with torch.no_grad():
        x, moments = net.stem(images), []
        for block in net.blocks:
            moments.append(x.pow(2).mean().item())
            x = block(x)
        moments.append(x.pow(2).mean().item())
        blown = F.cross_entropy(net.head(x), labels).item()
        calm = F.cross_entropy(cifar_net(56, batch_norm=False, in_channels=1, seed=0,
                                         zero_init=True)(images), labels).item()
    per_block = np.log2(moments[-1] / moments[0]) / len(net.blocks)
    assert 0.6 < per_block < 1.2  # about ×2 per block
    assert blown > 100 and abs(calm - np.log(10)) < 0.2


def test_zero_init_is_refused_for_a_plain_network():
    with pytest.raises(ValueError, match="residual"):
        cifar_net(20, residual=False, zero_init=True)
