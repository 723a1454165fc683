"""The convolution page's step-through, driven without a page and with a fake clock."""

from cnnviz.ops.stepper import Follow, Stepper, follow


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


def test_the_size_is_hidden_until_it_is_guessed_and_again_for_new_numbers():
    stepper = Stepper()
    stepper.show("a", count=4)
    assert stepper.size_hidden(predicting=True) and not stepper.size_hidden(predicting=False)
    assert not stepper.check_size((3, 3), (2, 2))  # wrong, but revealed all the same
    assert not stepper.size_hidden(predicting=True)
    assert stepper.check_size((2, 2), (2, 2))
    stepper.show("a", count=4)
    assert not stepper.size_hidden(predicting=True)  # same numbers: still known
    stepper.show("b", count=4)
    assert stepper.size_hidden(predicting=True)


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
