"""``python -m cnnviz.train``: the interface other tools rely on, run as a real subprocess."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cnnviz import train
from cnnviz.train.scratch import networks


def run(*args, tmp_path):
    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, "-m", "cnnviz.train", *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stderr


def test_train_writes_the_result_and_the_weights(tmp_path):
    result, stderr = run("--net", "numpy", "--epochs", "1", "--max-seconds", "30", "--seed", "1",
                         "--save", str(tmp_path / "w.npz"), "--threads", "1", tmp_path=tmp_path)
    assert {"net", "test_accuracy", "seconds", "steps", "history"} <= set(result)
    assert result["net"] == "numpy" and result["steps"] == len(result["history"]) > 0
    assert {"step", "loss", "epoch", "accuracy"} <= set(result["history"][0])
    assert result["test_accuracy"] > 0.5 and "test accuracy" in stderr
    # the saved weights give the reported test accuracy again
    split = train.mnist_split(seed=1)
    learner = networks.learner_from_file((tmp_path / "w.npz").read_bytes(),
                                         networks.Recipe("numpy"),
                                         train.Standardise.fit(split.train.images))
    assert train.evaluate(learner, split.test.images, split.test.labels)[1] == pytest.approx(
        result["test_accuracy"])


def test_plain_sgd_is_the_default_and_momentum_its_own_setting(tmp_path):
    """``--optimizer sgd`` is the chapter's plain SGD (momentum 0), recorded in the JSON; the
    saved weights are those of the same training run here with momentum 0."""
    result, _ = run("--optimizer", "sgd", "--lr", "0.01", "--epochs", "1", "--seed", "1",
                    "--threads", "1", "--save", str(tmp_path / "w.npz"), tmp_path=tmp_path)
    assert result["recipe"]["optimizer"] == "sgd" and result["recipe"]["momentum"] == 0
    assert result["ended"] == "finished"
    split = train.mnist_split(seed=1)
    prepare = train.Standardise.fit(split.train.images)
    learner = networks.build_learner(
        networks.Recipe("numpy", "sgd", 0.01, epochs=1, seed=1, momentum=0.0), prepare)
    train.fit(learner, split.train.images, split.train.labels, epochs=1, batch_size=32, seed=1)
    saved = networks.learner_from_file((tmp_path / "w.npz").read_bytes(),
                                       networks.Recipe("numpy"), prepare)
    x = split.test.images[:100]
    # Another BLAS thread count may round float32 sums differently; momentum 0.9 instead of 0
    # moves these logits by more than 1.
    np.testing.assert_allclose(saved.logits(x), learner.logits(x), atol=1e-3)
    result, _ = run("--optimizer", "sgd", "--momentum", "0.9", "--epochs", "1",
                    "--max-seconds", "5", tmp_path=tmp_path)
    assert result["recipe"]["momentum"] == 0.9
    refused = subprocess.run([sys.executable, "-m", "cnnviz.train", "--momentum", "0.9",
                              "--out", str(tmp_path / "x.json")], capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 2 and "--momentum is a setting of --optimizer sgd" in (
        refused.stderr)


def test_gradcheck_and_agreement(tmp_path):
    result, stderr = run("--gradcheck", tmp_path=tmp_path)
    checks = result["per_parameter"]
    assert 0 < result["max_relative_error"] < 1e-5
    assert result["max_relative_error"] == max(c["relative_error"] for c in checks.values()
                                               if c["relative_error"] is not None)
    assert checks["dense.W"]["checked"] == checks["dense.W"]["entries"] == 16 * 7 * 7 * 10
    assert all(c["checked"] == c["entries"] for c in checks.values())  # every entry
    # A bias just before batch norm has a zero gradient in both: not tested, and said so.
    assert checks["bn.conv1.b"]["relative_error"] is None
    assert checks["bn.conv1.b"]["both_zero"] == 8
    assert "not tested: both gradients zero" in stderr
    sampled, _ = run("--gradcheck", "--entries", "4", tmp_path=tmp_path)
    assert 2 <= sampled["per_parameter"]["dense.W"]["checked"] <= 5
    result, _ = run("--agreement", "--steps", "3", tmp_path=tmp_path)
    assert result["max_loss_difference"] < 1e-6 and result["max_gradient_difference"] < 1e-6
    losses = np.array(result["runs"]["adam"]["numpy_losses"])
    assert len(losses) == 3 and np.isfinite(losses).all()
