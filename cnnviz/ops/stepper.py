"""The convolution page's step-through as a small state machine, apart from the page: which
output cell is shown, predict-then-reveal (the output's size stays hidden until the student
has guessed it, and a cell's value until they have typed a guess and checked it), and when a
typed grid follows its preset.

Playing and free stepping happen in the browser (``cnnviz.figures.animation``); the server
only follows the steps while a student predicts. The page keeps one ``Stepper`` in its
session and calls it from its widgets' callbacks.
"""

from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum


class Follow(Enum):
    """What to do with a typed grid (the input or the kernel) when its preset is looked at."""

    KEEP = "keep"  # the preset's settings are unchanged and the grid is there: leave it
    SEED = "seed"  # first visit, or the text box was off screen: the link's grid or the preset's
    REPLACE = "replace"  # the preset's settings changed: regenerate it, from step 1


def follow(previous: Hashable | None, signature: Hashable, present: bool) -> Follow:
    """``previous`` is the signature (preset and its settings) the grid was last made from,
    None on the first run; ``present`` whether the grid is in the session now."""
    if previous == signature and present:
        return Follow.KEEP
    if previous is not None and previous != signature:
        return Follow.REPLACE
    return Follow.SEED


@dataclass
class Stepper:
    """Step ``step`` (1-based) of ``count``, for the configuration ``config``."""

    count: int = 1
    step: int = 1
    config: Hashable = None
    size_known: bool = False  # the output's size has been guessed (right or wrong)
    revealed: set[int] = field(default_factory=set)  # 0-based cells already checked
    verdict: tuple[int, bool] | None = None  # (cell, right?) of the last check

    def show(self, config: Hashable, count: int, step: int | None = None) -> None:
        """Point at a trace of ``count`` steps; a new configuration forgets what was
        revealed, since the cells now hold other numbers."""
        if config != self.config:
            self.config, self.revealed, self.verdict = config, set(), None
            self.size_known = False
        self.count = max(1, count)
        self.go(self.step if step is None else step)

    def go(self, step: int) -> None:
        self.step = max(1, min(self.count, step))

    def restart(self) -> None:
        self.step = 1

    def check_size(self, guess: tuple[int, int], truth: tuple[int, int]) -> bool:
        """Record a guess of the output's size and reveal it, right or wrong."""
        self.size_known = True
        return tuple(guess) == tuple(truth)

    def size_hidden(self, predicting: bool) -> bool:
        """Whether the output's size (its grid, the number of steps) must not show yet."""
        return predicting and not self.size_known

    def is_hidden(self, index: int, predicting: bool) -> bool:
        """Whether cell ``index`` (0-based) must not show its value yet."""
        return predicting and index not in self.revealed

    def check(self, index: int, guess: float | None, truth: float,
              tolerance: float = 0.005) -> bool:
        """Record a guess for cell ``index`` and reveal it, right or wrong."""
        right = guess is not None and abs(guess - truth) < tolerance
        self.verdict = (index, right)
        self.revealed.add(index)
        return right
