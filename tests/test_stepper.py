"""The convolution page's step-through, driven without a page and with a fake clock."""

from cnnviz.ops.stepper import PLAY_SLACK, Follow, Stepper, follow


def test_a_grid_follows_its_preset_only_when_the_preset_changes():
    assert follow(None, ("worked example", 1), present=False) is Follow.SEED  # first visit
    assert follow(("worked example", 1), ("worked example", 1), present=True) is Follow.KEEP
    # the same preset, but the text box was off screen and its state was dropped
    assert follow(("worked example", 1), ("worked example", 1), present=False) is Follow.SEED
    assert follow(("worked example", 1), ("random grid", 1), present=True) is Follow.REPLACE
    assert follow(("random grid", 1), ("random grid", 3), present=False) is Follow.REPLACE


def test_steps_stay_inside_the_trace():
    stepper = Stepper()
    stepper.show("a", count=4, step=9)
    assert stepper.step == 4
    stepper.go(0)
    assert stepper.step == 1
    stepper.show("a", count=2)  # a smaller trace pulls the step back in
    stepper.go(5)
    assert stepper.step == 2


def test_play_advances_by_the_clock_and_stops_at_the_end():
    stepper = Stepper()
    stepper.show("a", count=3)
    stepper.toggle_play(now=100.0)
    assert stepper.playing and stepper.step == 1
    assert not stepper.tick(now=100.0 + 0.5 * PLAY_SLACK, seconds_per_step=1.0)  # too early
    assert stepper.tick(now=101.0, seconds_per_step=1.0) and stepper.step == 2
    assert not stepper.tick(now=101.1, seconds_per_step=1.0)  # a rerun right after: no skip
    assert stepper.tick(now=102.0, seconds_per_step=1.0) and stepper.step == 3
    assert not stepper.tick(now=103.0, seconds_per_step=1.0)
    assert not stepper.playing and stepper.step == 3  # paused at the last cell
    stepper.toggle_play(now=104.0)  # play again from the end starts over
    assert stepper.playing and stepper.step == 1


def test_predict_then_reveal_hides_each_cell_until_it_is_checked():
    stepper = Stepper()
    stepper.show("a", count=4)
    assert stepper.is_hidden(0, predicting=True)
    assert not stepper.is_hidden(0, predicting=False)
    assert not stepper.check(0, guess=3.0, truth=-2.0)
    assert stepper.verdict == (0, False) and not stepper.is_hidden(0, predicting=True)
    assert stepper.check(1, guess=-2.001, truth=-2.0)  # within the tolerance of typing
    assert not stepper.check(2, guess=None, truth=0.0)  # no guess is not right
    stepper.show("a", count=4)
    assert not stepper.is_hidden(1, predicting=True)  # same numbers: still revealed
    stepper.show("b", count=4)  # new numbers: every cell hidden again
    assert stepper.is_hidden(1, predicting=True) and stepper.verdict is None
