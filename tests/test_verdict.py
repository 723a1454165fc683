"""What a degradation record may conclude: a verdict needs learnt networks and a gap larger than
the spread between seeds, and says whether the losses had settled."""

import pytest

from cnnviz.train.depth import verdict


def run(label: str, seed: int, losses: list[float] | None, accuracy: float = 0.95) -> dict:
    """A run whose epochs end at ``losses`` (None: it diverged), 27 steps an epoch."""
    depth = int(label.split("-")[1])
    epochs = [] if losses is None else [
        {"step": 27 * (k + 1), "epoch": k + 1, "loss": loss, "val_accuracy": accuracy}
        for k, loss in enumerate(losses)]
    return {"label": label, "depth": depth, "residual": label.startswith("ResNet"), "seed": seed,
            "ended": "diverged" if losses is None else "finished",
            "loss": [9.0] * (3 if losses is None else 27 * len(losses)), "epochs": epochs}


def record(finals: dict[str, list], accuracy: float = 0.95, before: float = 1.0) -> dict:
    """Each network's last-epoch loss per seed (an epoch at ``before`` × it comes first)."""
    runs = [run(label, seed, None if loss is None else [loss / before, loss], accuracy)
            for label, losses in finals.items() for seed, loss in enumerate(losses)]
    return {"setting": {"depths": [20, 56], "seeds": list(range(3)), "lr": 0.1},
            "classes": 10, "runs": runs}


def test_the_live_default_that_printed_degradation_is_too_short_to_tell():
    """One epoch, losses near chance, 10–11 % validation accuracy: the old bare `>` called
    plain-56's 2.69 against plain-20's 2.12 degradation."""
    found = verdict.pair(record({"plain-20": [2.12], "plain-56": [2.69], "ResNet-20": [2.2],
                                 "ResNet-56": [2.5]}, accuracy=0.11), "plain")
    assert found.outcome == "not learnt" and not found.degrades and not found.decided
    text = verdict.sentence(found, record({}))
    assert "Too short to tell" in text
    assert "A verdict needs a longer run than these 54 steps" in text  # a lower bound only


def test_one_seed_gives_no_verdict_even_when_both_have_learnt():
    found = verdict.pair(record({"plain-20": [0.03], "plain-56": [0.25]}), "plain")
    assert found.learnt and found.outcome == "one seed" and not found.degrades


def test_a_gap_inside_the_spread_between_seeds_is_no_difference():
    found = verdict.pair(record({"plain-20": [0.10, 0.30, 0.20], "plain-56": [0.25, 0.15, 0.33]}),
                         "plain")
    assert found.gap == pytest.approx((0.25 + 0.15 + 0.33) / 3 - 0.2)
    assert found.spread == pytest.approx(0.20)  # the larger range: plain-20's 0.10 to 0.30
    assert found.outcome == "within spread"


def test_a_gap_beyond_the_spread_is_a_verdict_and_settling_decides_which():
    finals = {"plain-20": [0.02, 0.03, 0.025], "plain-56": [0.25, 0.22, 0.28]}
    falling = verdict.pair(record(finals, before=0.5), "plain")  # halved over the last epoch
    assert falling.outcome == "deeper worse" and not falling.settled
    assert "a speed gap at 54 steps, not a plateau" in verdict.sentence(falling, record({}))
    flat = verdict.pair(record(finals, before=0.95), "plain")  # fell by 5 %
    assert flat.outcome == "deeper worse" and flat.settled and flat.degrades
    assert "degradation" in verdict.sentence(flat, record({}))
    better = verdict.pair(record({"ResNet-20": [0.25, 0.22, 0.28],
                                  "ResNet-56": [0.02, 0.03, 0.025]}), "ResNet")
    assert better.outcome == "deeper better"


def test_a_network_that_diverged_in_every_seed_ends_worse():
    found = verdict.pair(record({"plain-20": [0.1, 0.2, 0.15], "plain-56": [None, None, None]}),
                         "plain")
    assert found.outcome == "deeper worse" and found.deep_losses == [None] * 3


def test_told_apart_at_is_the_first_step_from_which_the_verdict_holds():
    runs = []
    for seed in range(3):  # together until epoch 2, apart from epoch 3 on
        runs += [run("plain-20", seed, [2.0, 1.0, 0.50, 0.30]),
                 run("plain-56", seed, [2.0, 1.0, 0.80 + 0.01 * seed, 0.70])]
    found = {"setting": {"depths": [20, 56]}, "classes": 10, "runs": runs}
    assert verdict.told_apart_at(found, "plain") == 3 * 27
    assert verdict.told_apart_at(record({"plain-20": [0.1, 0.3, 0.2],
                                         "plain-56": [0.2, 0.1, 0.3]}), "plain") is None


def test_summary_and_headline_read_the_same_numbers():
    found = record({"plain-20": [0.02, 0.03, 0.025], "plain-56": [0.25, 0.22, 0.28],
                    "ResNet-20": [0.02, 0.02, 0.03], "ResNet-56": [0.03, 0.04, 0.02]},
                   before=0.5)
    summary = verdict.summary(found)
    assert summary["plain-56"]["final_loss"] == [0.25, 0.22, 0.28]
    assert summary["plain-56"]["mean_loss"] == pytest.approx(0.25)
    assert summary["plain-56"]["loss_range"] == pytest.approx(0.06)
    question, answer = verdict.headline(found)
    assert question == ("plain-20 → 56 layers, mean training loss after 54 steps (3 seeds): "
                        "0.025 → 0.250")
    assert answer == "a speed gap, not a plateau"
