"""The convolution page's step-through as a small state machine, apart from the page: which
output cell is shown, playing by the clock, predict-then-reveal (a cell's value stays hidden
until the student has typed a guess and checked it), and when a typed grid follows its preset.

The page keeps one ``Stepper`` in its session and calls it from its widgets' callbacks; the
clock is passed in, so the tests can drive it without waiting.
"""

from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum

PLAY_SLACK = 0.9  # advance a little early: a rerun that arrives just before its time counts


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
    playing: bool = False
    advanced_at: float = 0.0
    config: Hashable = None
    revealed: set[int] = field(default_factory=set)  # 0-based cells already checked
    verdict: tuple[int, bool] | None = None  # (cell, right?) of the last check

    def show(self, config: Hashable, count: int, step: int | None = None) -> None:
        """Point at a trace of ``count`` steps; a new configuration forgets what was
        revealed, since the cells now hold other numbers."""
        if config != self.config:
            self.config, self.revealed, self.verdict = config, set(), None
        self.count = max(1, count)
        self.go(self.step if step is None else step)

    def go(self, step: int) -> None:
        self.step = max(1, min(self.count, step))

    def restart(self) -> None:
        self.step, self.playing = 1, False

    def toggle_play(self, now: float) -> None:
        """Play from the current step (from the start when at the end), or pause."""
        if not self.playing and self.step >= self.count:
            self.step = 1
        self.playing = not self.playing
        self.advanced_at = now

    def tick(self, now: float, seconds_per_step: float) -> bool:
        """Advance one step when the clock says it is due (by the clock, not by counting
        reruns: an interrupted rerun must not skip or repeat a step); stop at the end.
        Returns whether the step changed."""
        if not self.playing or now < self.advanced_at + PLAY_SLACK * seconds_per_step:
            return False
        if self.step < self.count:
            self.step += 1
            self.advanced_at = now
            return True
        self.playing = False
        return False

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
