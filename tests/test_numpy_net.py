"""The NumPy network from scratch, checked layer by layer against PyTorch's autograd, by finite
differences, and as a whole against its PyTorch twin."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnviz import arithmetic, train
from cnnviz.train.scratch import numpy_net as nn_np
from cnnviz.train.scratch.gradcheck import gradient_check
from cnnviz.train.scratch.mnist_convnet import MNISTConvNet, shape_comments
from cnnviz.train.scratch.numpy_learner import NumpyLearner
from cnnviz.train.scratch.numpy_optim import SGD, Adam
from cnnviz.train.scratch.twin import agreement, torch_twin

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def split():
    return train.mnist_split(seed=0)


def backward_against_torch(layer, x, torch_fn, **torch_params):
    """Run ``layer`` forward and backward on x (float64) and the same op in torch; return the
    pairs (numpy, torch) for the output, dx, and each parameter gradient."""
    y = layer.forward(x, train=True)
    dy = RNG.standard_normal(y.shape)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in torch_params.items()}
    ty = torch_fn(tx, **tparams)
    ty.backward(torch.tensor(dy))
    pairs = [(y, ty.detach().numpy()), (dx, tx.grad.numpy())]
    return pairs, tparams


def test_conv_layer_matches_torch_forward_and_backward():
    layer = nn_np.Conv2D(3, 4, 3, padding=1, rng=RNG, dtype=np.float64)
    layer.params["b"] = RNG.standard_normal(4)
    x = RNG.standard_normal((2, 3, 9, 9))
    pairs, tp = backward_against_torch(layer, x, lambda t, w, b: F.conv2d(t, w, b, padding=1),
                                       w=layer.params["W"], b=layer.params["b"])
    pairs += [(layer.grads["W"], tp["w"].grad.numpy()), (layer.grads["b"], tp["b"].grad.numpy())]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


def test_dense_relu_pool_flatten_match_torch():
    dense = nn_np.Dense(12, 5, rng=RNG, dtype=np.float64)
    x = RNG.standard_normal((6, 12))
    pairs, tp = backward_against_torch(dense, x, lambda t, w, b: t @ w + b,
                                       w=dense.params["W"], b=dense.params["b"])
    pairs.append((dense.grads["W"], tp["w"].grad.numpy()))
    x4 = RNG.integers(-2, 3, (2, 3, 7, 7)).astype(np.float64)  # ties in the pooling windows
    pairs += backward_against_torch(nn_np.MaxPool2D(2), x4, lambda t: F.max_pool2d(t, 2))[0]
    pairs += backward_against_torch(nn_np.ReLU(), x4, F.relu)[0]
    pairs += backward_against_torch(nn_np.Flatten(), x4, lambda t: t.flatten(1))[0]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_softmax_cross_entropy_and_its_gradient_match_torch():
    logits, labels = RNG.standard_normal((5, 10)) * 10, RNG.integers(0, 10, 5)
    loss, dlogits = nn_np.softmax_cross_entropy(logits, labels)
    t = torch.tensor(logits, requires_grad=True)
    reference = F.cross_entropy(t, torch.tensor(labels))
    reference.backward()
    assert loss == pytest.approx(reference.detach().item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, t.grad.numpy(), atol=1e-12)


def test_batch_norm_train_and_eval_modes_match_torch_batchnorm2d():
    ours = nn_np.BatchNorm2D(3, dtype=np.float64)
    ours.params["gamma"], ours.params["beta"] = RNG.uniform(0.5, 2, 3), RNG.standard_normal(3)
    theirs = torch.nn.BatchNorm2d(3).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.params["gamma"]))
        theirs.bias.copy_(torch.tensor(ours.params["beta"]))
    for _ in range(3):  # training: batch statistics, running averages updated
        x = RNG.standard_normal((4, 3, 5, 5)) * 3 + 1
        tx = torch.tensor(x, requires_grad=True)
        y, ty = ours.forward(x, train=True), theirs.train()(tx)
        dy = RNG.standard_normal(y.shape)
        dx = ours.backward(dy)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(ours.grads["gamma"], theirs.weight.grad.numpy(), atol=1e-10)
        theirs.zero_grad()
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-12)
    x = RNG.standard_normal((2, 3, 5, 5))  # evaluation: running statistics
    with torch.no_grad():
        np.testing.assert_allclose(ours.forward(x, train=False),
                                   theirs.eval()(torch.tensor(x)).numpy(), atol=1e-10)


@pytest.mark.parametrize("name", ["sgd", "sgd+momentum", "adam"])
def test_optimisers_follow_torch_optim_step_for_step(name):
    """Each with its defaults beside torch.optim's: plain SGD is momentum 0 in both."""
    net = nn_np.scratch_cnn(dtype=np.float64)
    twin = torch_twin(net)
    ours = {"sgd": SGD(net, lr=0.05), "sgd+momentum": SGD(net, lr=0.05, momentum=0.9),
            "adam": Adam(net, lr=0.01)}[name]
    theirs = {"sgd": lambda p: torch.optim.SGD(p, lr=0.05),
              "sgd+momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
              "adam": lambda p: torch.optim.Adam(p, lr=0.01)}[name](twin.parameters())
    dense, linear = net.layers[-1], twin.dense
    for step in range(4):  # the same gradients, set by hand, fed to both
        g = RNG.standard_normal(dense.params["W"].shape)
        dense.grads = {"W": g, "b": np.zeros(10)}
        for _, _, layer in net.parameters():
            if layer is not dense:
                layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
        for p in twin.parameters():
            p.grad = torch.zeros_like(p)
        linear.weight.grad = torch.tensor(g.T.copy())
        ours.step()
        theirs.step()
        np.testing.assert_allclose(dense.params["W"], linear.weight.detach().numpy().T,
                                   rtol=1e-12, atol=1e-14)


def test_he_initialisation_has_variance_two_over_fan_in():
    net = nn_np.scratch_cnn((64, 64), seed=1, dtype=np.float64)
    conv2, dense = net.layers[3], net.layers[-1]
    assert conv2.params["W"].std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.03)
    assert dense.params["W"].std() == pytest.approx(np.sqrt(2 / (64 * 49)), rel=0.03)
    assert not conv2.params["b"].any()


@pytest.mark.parametrize("batch_norm", [False, True])
def test_gradient_check_checks_every_entry_and_finds_backprop_right(split, batch_norm):
    net = nn_np.scratch_cnn(batch_norm=batch_norm, dtype=np.float64)
    x = train.Standardise.fit(split.train.images, np.float64)(split.train.images[:6])
    checks = gradient_check(net, x, split.train.labels[:6])
    sizes = {f"{n}.{k}": layer.params[k].size for n, k, layer in net.parameters()}
    assert {name: (c.entries, c.checked) for name, c in checks.items()} == {
        name: (size, size) for name, size in sizes.items()}
    assert max(c.error for c in checks.values() if c.tested) < 1e-5
    # A bias just before batch norm changes nothing (batch norm subtracts the mean again):
    # both gradients are zero, which is no test of the backward pass and is not shown as one.
    for bias in ("conv1.b", "conv2.b"):
        assert checks[bias].tested is not batch_norm
        assert checks[bias].both_zero == (sizes[bias] if batch_norm else 0)


def test_gradient_check_zero_entries_are_those_torch_finds_zero(split):
    """The entries counted as "both zero" are those where autograd's gradient is zero too."""
    net = nn_np.scratch_cnn(dtype=np.float64)
    x = train.Standardise.fit(split.train.images, np.float64)(split.train.images[:6])
    checks = gradient_check(net, x, split.train.labels[:6])
    twin = torch_twin(net)
    F.cross_entropy(twin(torch.tensor(x)), torch.tensor(split.train.labels[:6])).backward()
    zeros = int((twin.dense.weight.grad.abs() <= 1e-8).sum())
    assert checks["dense.W"].both_zero == zeros > 0


def test_a_sampled_gradient_check_says_how_many_entries_it_compared(split):
    net = nn_np.scratch_cnn(dtype=np.float64)
    x = train.Standardise.fit(split.train.images, np.float64)(split.train.images[:6])
    checks = gradient_check(net, x, split.train.labels[:6], entries=3)
    assert checks["dense.W"].entries == 7840 and 2 <= checks["dense.W"].checked <= 4
    assert checks["conv1.b"].checked <= checks["conv1.b"].entries == 8


def test_gradient_check_catches_a_wrong_backward(split):
    net = nn_np.scratch_cnn(dtype=np.float64)
    relu = net.layers[1]
    relu.backward = lambda dy: dy  # forgets the mask: the gradient flows where it should not
    x = train.Standardise.fit(split.train.images, np.float64)(split.train.images[:6])
    checks = gradient_check(net, x, split.train.labels[:6])
    assert checks["conv1.W"].error > 1e-2 and checks["dense.W"].error < 1e-5


@pytest.mark.parametrize("optimizer,batch_norm", [("sgd", False), ("adam", True)])
def test_numpy_network_and_its_torch_twin_agree_to_1e6(split, optimizer, batch_norm):
    paired = agreement(split.train.images, split.train.labels, steps=5, optimizer=optimizer,
                       lr=0.01 if optimizer == "sgd" else 1e-3, batch_norm=batch_norm,
                       prepare=train.Standardise.fit(split.train.images))
    assert len(paired.numpy_losses) == 5
    np.testing.assert_allclose(paired.numpy_losses, paired.torch_losses, atol=1e-6)
    assert max(paired.gradient_differences) < 1e-6
    assert paired.numpy_losses[-1] < paired.numpy_losses[0]  # it trains, too


def test_a_short_numpy_training_beats_chance_by_far(split):
    prepare = train.Standardise.fit(split.train.images)
    net = nn_np.scratch_cnn(seed=0)
    learner = NumpyLearner(net, Adam(net, lr=1e-3), prepare=prepare)
    train.fit(learner, split.train.images, split.train.labels, epochs=1, batch_size=32)
    _, accuracy = train.evaluate(learner, split.test.images, split.test.labels)
    assert accuracy > 0.8  # chance: 0.1


def test_mnistconvnet_shapes_and_the_chapters_comments():
    rows = shape_comments()
    wrong = [r for r in rows if not r["agrees"]]
    # The chapter's 3×3×128 is wrong at block 3's convolution (3×3, no padding: 7 → 5), not
    # after the pool, where its own next comment (2×2×128) is right.
    assert [(r["claimed"], r["real"]) for r in wrong] == [((128, 3, 3), (128, 5, 5))]
    model = MNISTConvNet().eval()
    with torch.no_grad():
        x = torch.zeros(1, 1, 28, 28)
        conv3 = model.features[:9](x)
        assert isinstance(model.features[8], torch.nn.Conv2d)
        assert conv3.shape[1:] == (128, 7 - 3 + 1, 7 - 3 + 1) == wrong[0]["real"]
        assert model.features(x).shape[1:] == (128, 2, 2) == rows[3]["real"]
    convs = (arithmetic.conv_params(1, 32, 3) + arithmetic.conv_params(32, 64, 3)
             + arithmetic.conv_params(64, 128, 3))
    expected = convs + 2 * (32 + 64 + 128) + (512 * 128 + 128) + (128 * 10 + 10)
    model = MNISTConvNet()
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
