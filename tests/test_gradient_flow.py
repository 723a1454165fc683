"""The gradient norms the page shows, against torch.autograd on the same real batch."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.train import cifar_net
from cnnviz.train.depth import gradient_flow
from cnnviz.train.depth.images32 import digits32

REL = 1e-5


@pytest.fixture(scope="module")
def digits_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """64 real training digits, padded to 32×32 and standardised."""
    data = digits32()
    return data.tensors(data.train, 64)


def backward_with_hooks(net: nn.Module, images, labels, detach=()):
    """Run ``net`` as it is (its own forward), keep every block's input, optionally cut the
    gradient through some modules (their output detached), and backpropagate the loss."""
    kept = []

    def keep(tensor: torch.Tensor) -> None:
        tensor.retain_grad()
        kept.append(tensor)

    handles = [block.register_forward_pre_hook(lambda m, args: keep(args[0]))
               for block in net.blocks]
    handles.append(net.blocks.register_forward_hook(lambda m, args, out: keep(out)))
    handles += [module.register_forward_hook(lambda m, args, out: out.detach())
                for module in detach]
    net.zero_grad()
    F.cross_entropy(net(images), labels).backward()
    for h in handles:
        h.remove()
    return [x.grad for x in kept]


def close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=REL, abs=1e-12)


@pytest.mark.parametrize("options", [dict(residual=False), dict(residual=True),
                                     dict(residual=True, shortcut="B"),
                                     dict(residual=False, batch_norm=False),
                                     dict(residual=True, activation="sigmoid")],
                         ids=["plain", "resnet-A", "resnet-B", "plain-no-bn", "resnet-sigmoid"])
def test_block_and_weight_norms_equal_autograds(options, digits_batch):
    net = cifar_net(20, in_channels=1, **options, seed=0).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flow = gradient_flow.measure(net, *digits_batch)
    for k, v in net.state_dict().items():  # the network is not touched (running statistics)
        assert torch.equal(v, before[k]), k

    grads = backward_with_hooks(net, *digits_batch)
    assert len(flow.input_norms) == len(net.blocks) + 1
    for mine, reference in zip(flow.input_norms, grads):
        assert close(mine, reference.double().norm().item())
    weights = {name: m.weight.grad.double().norm().item() for name, m in net.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert flow.weight_norms.keys() == weights.keys()
    for name, value in weights.items():
        assert close(flow.weight_norms[name], value), name
    assert flow.first_to_last == pytest.approx(
        (grads[0].double().norm() / grads[-2].double().norm()).item(), rel=REL)


def test_highway_is_the_gradient_with_every_branch_cut(digits_batch):
    """The '1·1·…·1' term: with every F detached, only the shortcuts carry a gradient."""
    net = cifar_net(20, in_channels=1, seed=1).train()
    flow = gradient_flow.measure(net, *digits_batch)
    grads = backward_with_hooks(net, *digits_batch, detach=[b.branch for b in net.blocks])
    for mine, reference in zip(flow.highway_norms, grads):
        assert close(mine, reference.double().norm().item())
    full = backward_with_hooks(net, *digits_batch)
    for i, (rest, g, h) in enumerate(zip(flow.rest_norms, full, grads)):
        assert close(rest, (g - h).double().norm().item()), i
    assert flow.highway_norms[0] > 0


@pytest.mark.parametrize("block", [0, 3, 8])
def test_shortcut_and_branch_parts_are_the_two_paths_through_a_block(block, digits_batch):
    net = cifar_net(20, in_channels=1, shortcut="B", seed=2).train()
    flow = gradient_flow.measure(net, *digits_batch)
    through_branch = backward_with_hooks(net, *digits_batch, detach=[net.blocks[block].shortcut])
    through_shortcut = backward_with_hooks(net, *digits_batch, detach=[net.blocks[block].branch])
    assert close(flow.branch_norms[block], through_branch[block].double().norm().item())
    assert close(flow.shortcut_norms[block], through_shortcut[block].double().norm().item())


def test_a_plain_network_has_no_highway(digits_batch):
    flow = gradient_flow.measure(cifar_net(20, False, in_channels=1, seed=3), *digits_batch)
    assert flow.highway_norms[:-1] == [0.0] * 9 and flow.shortcut_norms == [0.0] * 9
    assert flow.rest_norms[:-1] == flow.input_norms[:-1]
    # the per-block factors multiply up to the whole change from the output to the input
    product = torch.tensor(flow.factors, dtype=torch.float64).prod().item()
    assert product * flow.input_norms[-1] == pytest.approx(flow.input_norms[0], rel=1e-9)


def test_a_tiny_gradient_keeps_its_norm_and_0_means_every_entry_is_0(digits_batch):
    """Without batch norm with sigmoid the first blocks' gradients have entries near 1e-39:
    their squares underflow in float32, whose norm says 0, though almost no entry is 0."""
    net = cifar_net(56, False, batch_norm=False, activation="sigmoid", in_channels=1,
                    seed=0).train()
    flow = gradient_flow.measure(net, *digits_batch)
    grads = backward_with_hooks(net, *digits_batch)
    first = grads[0]
    assert first.norm().item() == 0 and first.count_nonzero() > 0.99 * first.numel()
    assert flow.input_norms[0] == pytest.approx(first.double().norm().item(), rel=REL)
    assert 0 < flow.input_norms[0] < 1e-30
    assert gradient_flow.norm(torch.zeros(3, 4)) == 0.0
