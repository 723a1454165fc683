"""Weight files that a careless or hostile class uploads (issue 21) are refused at upload, with
a message that says what was expected and what was found, before the file can make the server
build a network of its choosing or read more than the expected network's bytes.

Every case loads in a fresh process whose memory is capped (``RLIMIT_DATA``) a little above
what it holds: a regression fails there instead of swapping the machine. Before the fix, the
issue's three files took 1.6 to 1.9 GB within seconds (and to 19 GB without a cap), and the
misfits loaded and crashed the page at its first prediction (``bench/bench_hostile_weights.py``
measures both).
"""

import re

import pytest

from tests.hostile_weights import CASES, measure

LIMIT_MB = 300  # above what the process holds: the expected network is a few kilobytes
UNSAFE_ADVICE = re.compile(r"weights_only|allow_pickle|unsafe|pickle\.load|trust", re.I)
# What each refusal must say: what was expected and what was found, in the app's words.
SAYS = {
    "npz zeros claiming 3000 channels": r"322,055 bytes, but .*channels 8, 16.* at most",
    "pt of stride-0 tensors, 1000 channels": r"conv1.weight has shape 1000 × 1 × 3 × 3 where "
                                             r"the network needs 8 × 1 × 3 × 3",
    "npz random, channels (256, 512)": r"5,735,938 bytes, but",
    "npz for 3-channel images": r"conv1.W has shape 8 × 3 × 3 × 3 where the network needs "
                                r"8 × 1 × 3 × 3.*for 3-channel images.*trained on other data",
    "npz with 20 classes": r"dense.W has shape 784 × 20 where the network needs 784 × 10",
    "npz with 5 classes": r"dense.W has shape 784 × 5 where the network needs 784 × 10",
    "npz with an extra conv layer": r"it has conv3.W, conv3.b, which the network has not.*"
                                    r"channels 8, 16, 32",
    "npz with 0 channels": r"conv1.W has shape 0 × 1 × 3 × 3 where the network needs 8 × 1",
    "npz with a string array": r"conv1.W holds text, not decimal numbers",
    "npz with a NaN": r"conv2.W holds NaN or infinite values",
    "npz of pickled objects": r"conv1.W holds Python objects, not decimal numbers",
    "random bytes as npz": r"not a NumPy weights file \(.npz\) of this app",
    "empty npz file": r"not a NumPy weights file .* it is empty",
    "empty pt file": r"not a PyTorch weights file .* it is empty",
    "pt holding an empty dict": r"does not fit the PyTorch twin .* it lacks conv1.weight",
    "random bytes as pt": r"not a PyTorch weights file \(.pt\) of this app",
    "pt of a pickled object": r"Python objects other than weights.*not a weights file of this "
                              r"app",
    "pt for 20 classes": r"dense.weight has shape 20 × 784 where the network needs 10 × 784",
    "pt with an infinity": r"dense.weight holds NaN or infinite values",
    "pt with a 1 GB deflated record": r"1,044,389 bytes, but",
    "pt of stride-0 tensors for MNISTConvNet": r"does not fit the chapter's MNISTConvNet: it "
                                               r"lacks",
    "fine-tuned with a million classes": r"upload.pt: .*not written by torch.save",
    "fine-tuned with 100,000 classes": r"no list of 2 to 4,000 class names",
    "fine-tuned with a NaN": r"head.3.weight holds NaN or infinite values",
    "random bytes as a fine-tuned model": r"not a PyTorch weights file \(.pt\) of this app",
    "fine-tuned pickled object": r"Python objects other than weights",
}


@pytest.fixture(scope="module")
def outcomes():
    return measure(list(CASES), limit_mb=LIMIT_MB, timeout=600)


def test_every_case_says_what_it_must():
    assert set(SAYS) == set(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_or_careless_weights_file_is_refused_within_bounds(outcomes, name):
    result = outcomes[name]
    assert result["outcome"] == "refused", result
    assert re.search(SAYS[name], result["message"]), result["message"]
    assert not UNSAFE_ADVICE.search(result["message"]), result["message"]
    assert result["peak_mb"] < 120 and result["seconds"] < 60, result
