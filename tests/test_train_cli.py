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


def test_gradcheck_and_agreement(tmp_path):
    result, _ = run("--gradcheck", tmp_path=tmp_path)
    assert 0 < result["max_relative_error"] < 1e-5
    assert result["max_relative_error"] == max(result["per_parameter"].values())
    result, _ = run("--agreement", "--steps", "3", tmp_path=tmp_path)
    assert result["max_loss_difference"] < 1e-6 and result["max_gradient_difference"] < 1e-6
    losses = np.array(result["runs"]["adam"]["numpy_losses"])
    assert len(losses) == 3 and np.isfinite(losses).all()
