"""Generated exam questions: every stated answer recomputed from its numbers, for 1,000
seeds and every topic."""

import re

import pytest

from cnnviz import arithmetic
from cnnviz.arithmetic import practice

SEEDS = range(1_000)


def recomputed(q: practice.Question):
    """The answer from the question's own numbers, through cnnviz.arithmetic (checked
    against PyTorch in test_arithmetic)."""
    x = q.numbers
    if q.topic in ("output_size", "pooling"):
        return arithmetic.output_size(x["n"], x["f"], x["p"], x["s"])
    if q.topic == "conv_params":
        return arithmetic.conv_params(x["c_in"], x["c_out"], x["f"])
    if q.topic == "receptive_field":
        return arithmetic.receptive_field(x["layers"])[-1][0]
    if q.topic == "depthwise":
        separable = arithmetic.depthwise_separable_params(x["c_in"], x["c_out"], x["f"], False)
        if x["ask"] == "params":
            return separable
        return round(arithmetic.conv_params(x["c_in"], x["c_out"], x["f"], False) / separable, 1)
    if q.topic == "bottleneck":
        return arithmetic.bottleneck_params(x["c"], x["mid"], bias=False)
    if x["ask"] == "params":  # pointwise
        return arithmetic.conv_params(x["c_in"], x["c_out"], 1)
    return arithmetic.conv_macs(x["c_in"], x["c_out"], 1, x["n"], x["n"])


def stated_in_text(q: practice.Question) -> list[str]:
    """Fragments the question text must contain, so the numbers asked are the numbers used."""
    x = q.numbers
    if q.topic in ("output_size", "pooling"):
        return [f"{x['n']}×{x['n']}", f"{x['f']}×{x['f']}", f"stride {x['s']}"] + (
            [f"padding {x['p']}"] if x["p"] or q.topic == "output_size" else [])
    if q.topic == "receptive_field":
        return [f"{f}×{f} stride {s}" for f, s in x["layers"]]
    if q.topic == "bottleneck":
        return [f"on {x['c']} channels", f"down to {x['mid']} channels"]
    if q.topic == "conv_params":
        return [f"×{x['c_in']} input", f"{x['c_out']} filters of size {x['f']}×{x['f']}"]
    return [f"{x['c_in']}", f"{x['c_out']}"]


@pytest.mark.parametrize("topic", practice.TOPICS)
def test_stated_answers_agree_with_arithmetic(topic):
    for seed in SEEDS:
        q = practice.question(seed, 0, topic)
        assert q.answer == recomputed(q), (seed, q)
        for fragment in stated_in_text(q):
            assert fragment in q.text, (seed, fragment, q.text)
        assert q.check(q.answer_text) and q.answer_text in q.explanation.replace("{,}", ",")


@pytest.mark.parametrize("topic", ["output_size", "pooling"])
def test_explanations_count_the_real_and_padded_rows_no_window_reads(topic):
    """Split as arithmetic.uncovered and uncovered_padding count them (checked against
    autograd in test_arithmetic): when the floor's remainder exceeds the padding after the
    input, real rows are dropped, not only padded ones."""
    real_dropped = 0
    for seed in SEEDS:
        q = practice.question(seed, 0, topic)
        x = q.numbers
        real = len(arithmetic.uncovered(x["n"], x["f"], x["p"], x["s"]))
        padded = arithmetic.uncovered_padding(x["n"], x["f"], x["p"], x["s"])
        said = re.search(r"No window reads (\d+) real input rows? and (\d+) padded rows?",
                         q.explanation)
        if real or padded:
            assert said and (int(said[1]), int(said[2])) == (real, padded), (seed, q)
        else:
            assert said is None, (seed, q)
        real_dropped += (x["n"] + 2 * x["p"] - x["f"]) % x["s"] > x["p"]
    assert real_dropped > 0  # the case the old sentence ("drops N padded pixels") got wrong
    example = practice.question(2, 0, "output_size")  # 128 input, F = 11, S = 4, P = 0
    assert example.numbers == dict(n=128, f=11, p=0, s=4)
    assert "1 real input row and 0 padded rows" in example.explanation


@pytest.mark.parametrize("topic", practice.TOPICS)
def test_multiple_choice_has_exactly_one_right_option(topic):
    for seed in SEEDS:
        q = practice.question(seed, 1, topic, "multiple choice")
        assert len(q.choices) == 4 == len(set(q.choices)), (seed, q.choices)
        assert [q.check(choice) for choice in q.choices].count(True) == 1
        assert q.answer_text in q.choices


def test_wrong_choices_are_common_mistakes():
    """Forgetting the bias (parameters) and taking P = 1 for "same" (output size) show up
    among the options whenever they give a different number."""
    for seed in range(200):
        q = practice.question(seed, 0, "conv_params", "multiple choice")
        no_bias = q.numbers["f"] ** 2 * q.numbers["c_in"] * q.numbers["c_out"]
        assert f"{no_bias:,}" in q.choices
        q = practice.question(seed, 0, "output_size", "multiple choice")
        x = q.numbers
        forgot_floor = -(-(x["n"] - x["f"] + 2 * x["p"]) // x["s"]) + 1
        if forgot_floor != q.answer:
            assert f"{forgot_floor:,}" in q.choices


def test_numeric_answers_are_checked_leniently_but_exactly():
    q = practice.Question("conv_params", "", 4_640, "")
    assert q.check("4640") and q.check("4,640") and q.check(" 4 640 ")
    assert not q.check("4641") and not q.check("") and not q.check("forty") and not q.check(None)
    ratio = practice.Question("depthwise", "", 8.7, "", digits=1)
    assert ratio.check("8.7") and ratio.check("8.72") and not ratio.check("8.6")
    assert ratio.answer_text == "8.7"


def test_same_seed_same_quiz_for_the_whole_class():
    first, again = practice.quiz(2024, 10), practice.quiz(2024, 10)
    assert first == again
    assert practice.quiz(2024, 4) == first[:4]  # more questions never change the earlier ones
    assert [q.text for q in practice.quiz(2025, 10)] != [q.text for q in first]
    assert {q.topic for q in first} == set(practice.TOPICS)


def test_formats_and_topics_are_honoured():
    assert all(q.choices for q in practice.quiz(5, 14, fmt="multiple choice"))
    assert not any(q.choices for q in practice.quiz(5, 14, fmt="numeric"))
    mixed = practice.quiz(5, 40)
    assert any(q.choices for q in mixed) and not all(q.choices for q in mixed)
    assert {q.topic for q in practice.quiz(5, 6, ["pooling", "bottleneck"])} == {
        "pooling", "bottleneck"}
    with pytest.raises(ValueError, match="unknown topic"):
        practice.question(1, 0, "attention")
    with pytest.raises(ValueError, match="unknown format"):
        practice.quiz(1, 3, fmt="essay")


def test_explanations_group_digits_the_latex_way():
    """Inside $...$ a bare comma would be typeset with a space after it: 4, 640."""
    for seed in range(50):
        for q in practice.quiz(seed, 7):
            for math in re.findall(r"\$\$?(.+?)\$", q.explanation, re.S):
                assert not re.search(r"\d,\d", math), q.explanation
