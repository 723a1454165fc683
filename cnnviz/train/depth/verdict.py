"""What a degradation record shows, and what it cannot: a deeper network "ends worse" only when
both networks have learnt and the gap between them is larger than the spread between seeds.

A record (``degradation.run_setting``'s) holds every network of a setting under one or more
seeds. For each pair (plain shallow against plain deep, ResNet shallow against ResNet deep) this
module reads each seed's last-epoch training loss and validation accuracy and decides:

- **not learnt**: some run's validation accuracy is below ``LEARNT`` of the way from chance
  (1 / classes) to 100 %: its loss says nothing about depth yet;
- **one seed**: the run-to-run spread is unmeasured, so no gap can be told from noise;
- **deeper worse** / **deeper better**: the mean losses differ by more than the spread (the
  larger of the two networks' ranges over seeds);
- **within spread**: they do not.

It also says whether training loss had *settled* (fell by less than ``SETTLED`` over the last
epoch): He et al.'s degradation is a plateau at the end of training; a gap while the losses are
still falling is a difference in speed.
"""

from dataclasses import dataclass
from statistics import fmean

LEARNT = 0.5  # how far from chance towards 100 % validation accuracy a run must get
SETTLED = 0.1  # a run has settled when its epoch-mean loss fell by less than this fraction
KINDS = ("plain", "ResNet")


@dataclass(frozen=True)
class Pair:
    """The verdict on one pair at one epoch (the last unless asked)."""

    kind: str  # "plain" or "ResNet"
    shallow: str  # run labels, "plain-20"
    deep: str
    step: int  # the training step the losses were read at
    shallow_losses: list[float | None]  # per seed, None where the run diverged
    deep_losses: list[float | None]
    accuracies: dict[str, list[float]]  # validation accuracy per seed, by label
    learnt: bool
    settled: bool
    gap: float | None  # mean deep loss − mean shallow loss
    spread: float | None  # the larger range over seeds of the two networks' losses
    outcome: str  # see the module's docstring

    @property
    def degrades(self) -> bool:
        return self.outcome == "deeper worse"

    @property
    def decided(self) -> bool:
        return self.outcome in ("deeper worse", "deeper better")


def _runs(record: dict, label: str) -> list[dict]:
    return [run for run in record["runs"] if run["label"] == label]


def _epoch(run: dict, epoch: int) -> dict | None:
    """Epoch ``epoch`` (1-based; -1 the last) of a run, None when it diverged before it."""
    epochs = run.get("epochs") or []
    if epoch == -1:
        return epochs[-1] if epochs else None
    return epochs[epoch - 1] if len(epochs) >= epoch else None


def chance(record: dict) -> float:
    return 1 / record.get("classes", 10)


def learnt_threshold(record: dict) -> float:
    """The validation accuracy that counts as learnt: ``LEARNT`` of the way from chance."""
    return chance(record) + LEARNT * (1 - chance(record))


def _settled(run: dict, epoch: int) -> bool:
    epochs = run.get("epochs") or []
    last = len(epochs) if epoch == -1 else epoch
    if last < 2 or len(epochs) < last:
        return False
    before, now = epochs[last - 2]["loss"], epochs[last - 1]["loss"]
    return now >= (1 - SETTLED) * before


def pair(record: dict, kind: str, epoch: int = -1) -> Pair:
    """The verdict on ``kind``'s shallow and deep networks at ``epoch`` (1-based; -1: the end)."""
    shallow_depth, deep_depth = record["setting"]["depths"]
    shallow, deep = f"{kind}-{shallow_depth}", f"{kind}-{deep_depth}"
    points = {label: [_epoch(run, epoch) for run in _runs(record, label)]
              for label in (shallow, deep)}
    losses = {label: [None if e is None else e["loss"] for e in found]
              for label, found in points.items()}
    accuracies = {label: [e["val_accuracy"] for e in found if e is not None]
                  for label, found in points.items()}
    steps = [e["step"] for found in points.values() for e in found if e is not None]
    runs = _runs(record, shallow) + _runs(record, deep)
    seeds = min(len(losses[shallow]), len(losses[deep]))
    finished = {label: [v for v in values if v is not None] for label, values in losses.items()}
    learnt = all(len(finished[label]) == len(losses[label]) and all(
        a >= learnt_threshold(record) for a in accuracies[label]) for label in losses)
    gap = spread = None
    if finished[shallow] and finished[deep]:
        gap = fmean(finished[deep]) - fmean(finished[shallow])
        spread = max(max(v) - min(v) for v in finished.values())
    diverged = {label: len(finished[label]) < len(losses[label]) for label in losses}
    if seeds == 0:
        outcome = "missing"
    elif diverged[deep] and not finished[deep] and not diverged[shallow]:
        outcome = "deeper worse"  # every deep run diverged, no shallow one did
    elif diverged[shallow] and not finished[shallow] and not diverged[deep]:
        outcome = "deeper better"
    elif not learnt:
        outcome = "not learnt"
    elif seeds < 2:
        outcome = "one seed"
    elif abs(gap) > spread:
        outcome = "deeper worse" if gap > 0 else "deeper better"
    else:
        outcome = "within spread"
    return Pair(kind=kind, shallow=shallow, deep=deep, step=max(steps, default=0),
                shallow_losses=losses[shallow], deep_losses=losses[deep],
                accuracies=accuracies, learnt=learnt,
                settled=bool(runs) and all(_settled(run, epoch) for run in runs),
                gap=gap, spread=spread, outcome=outcome)


def verdict(record: dict) -> dict[str, Pair]:
    """Both pairs' verdicts at the end of the record's runs."""
    return {kind: pair(record, kind) for kind in KINDS}


def told_apart_at(record: dict, kind: str) -> int | None:
    """The first step from which the pair's verdict stays decided to the end of the record
    (None when it never is): how long a run needs before it can tell the two apart."""
    epochs = max((len(run.get("epochs") or []) for run in record["runs"]), default=0)
    first = None
    for epoch in range(epochs, 0, -1):
        found = pair(record, kind, epoch)
        if not found.decided:
            break
        first = found.step
    return first


def summary(record: dict) -> dict:
    """Each network's last-epoch training loss and validation accuracy per seed, their mean and
    range: the spread the results file records beside its curves."""
    out = {}
    for label in dict.fromkeys(run["label"] for run in record["runs"]):
        last = [_epoch(run, -1) for run in _runs(record, label)]
        losses = [e["loss"] for e in last if e is not None]
        out[label] = {
            "seeds": [run["seed"] for run in _runs(record, label)],
            "final_loss": [None if e is None else e["loss"] for e in last],
            "final_val_accuracy": [None if e is None else e["val_accuracy"] for e in last],
            "mean_loss": fmean(losses) if losses else None,
            "loss_range": max(losses) - min(losses) if losses else None,
        }
    return out


def _losses(values: list[float | None]) -> str:
    finished = [v for v in values if v is not None]
    if not finished:
        return "diverged"
    text = f"{fmean(finished):.3g}"
    if len(finished) > 1:
        text += f" ({min(finished):.3g} to {max(finished):.3g} over {len(finished)} seeds)"
    if len(finished) < len(values):
        text += f", {len(values) - len(finished)} diverged"
    return text


def sentence(found: Pair, record: dict) -> str:
    """What the pair's runs show, in words (Markdown), with the numbers behind it."""
    shallow, deep = found.shallow, found.deep
    both = (f"{deep} {_losses(found.deep_losses)} against {shallow} "
            f"{_losses(found.shallow_losses)}")
    margin = ("" if found.gap is None or found.spread is None else
              f"; the gap, {found.gap:+.3g}, against a spread of {found.spread:.3g} between seeds")
    at = f"after {found.step:,} steps"
    if found.outcome == "not learnt":
        worst = min(min(a, default=0.0) for a in found.accuracies.values())
        return (f"**Too short to tell** {at}: not every run has learnt yet (lowest validation "
                f"accuracy {100 * worst:.0f} %; chance is {100 * chance(record):.0f} %, and a run "
                f"counts as learnt from {100 * learnt_threshold(record):.0f} %). Training loss "
                f"{both}. A verdict needs a longer run than these {found.step:,} steps; how much "
                "longer, they cannot say.")
    if found.outcome == "one seed":
        return (f"Training loss {at}: {both}. **One seed per network**: without the spread "
                "between seeds no gap can be told from run-to-run noise.")
    if found.outcome == "within spread":
        return (f"Training loss {at}: {both}{margin}. **No difference larger than the spread "
                "between seeds.**")
    if found.outcome == "deeper better":
        return (f"Training loss {at}: {both}{margin}. **The deeper network ends lower**: no "
                "degradation here.")
    if found.outcome == "deeper worse":
        if found.settled:
            return (f"Training loss {at}: {both}{margin}, and every run's loss had settled (it "
                    f"fell by less than {100 * SETTLED:.0f} % over the last epoch). **The deeper "
                    "network ends worse on its own training data: degradation**, the plateau He "
                    "et al. describe.")
        return (f"Training loss {at}: {both}{margin}. The deeper network is behind, but the "
                f"losses are still falling (some fell by {100 * SETTLED:.0f} % or more over the "
                f"last epoch): **a speed gap at {found.step:,} steps, not a plateau**: these runs "
                "cannot say where the deeper network would settle.")
    return ""


SHORT = {"not learnt": "too short to tell", "one seed": "one seed: no verdict",
         "within spread": "within the seeds' spread", "deeper better": "deeper ends lower",
         "missing": ""}


def headline(record: dict, kind: str = "plain") -> tuple[str, str]:
    """The pair's losses and, in a few words, its verdict: the home page's card."""
    found = pair(record, kind)
    seeds = len(found.deep_losses)

    def mean(values: list[float | None]) -> str:
        finished = [v for v in values if v is not None]
        return f"{fmean(finished):.3f}" if finished else "diverged"

    short = (("degradation" if found.settled else "a speed gap, not a plateau")
             if found.outcome == "deeper worse" else SHORT[found.outcome])
    return (f"{found.shallow} → {found.deep.split('-')[1]} layers, mean training loss after "
            f"{found.step:,} steps ({seeds} seed{'s' if seeds != 1 else ''}): "
            f"{mean(found.shallow_losses)} → {mean(found.deep_losses)}", short)


def outcomes(record: dict) -> str:
    """Every network's end in one line: how many seeds diverged (and at which step), else the
    validation accuracy over seeds, with the learning rate and the number of steps."""
    parts = []
    for label, found in summary(record).items():
        runs = _runs(record, label)
        diverged = [len(run["loss"]) for run in runs if run["ended"] == "diverged"]
        accuracy = [100 * a for a in found["final_val_accuracy"] if a is not None]
        text = label
        if accuracy:
            text += (f" {min(accuracy):.0f} to {max(accuracy):.0f} %" if len(accuracy) > 1
                     else f" {accuracy[0]:.0f} %")
        if diverged:
            text += (f"{',' if accuracy else ''} {len(diverged)} of {len(runs)} diverged (at step "
                     f"{', '.join(map(str, diverged))})")
        parts.append(text)
    s = record["setting"]
    steps = max(len(run["loss"]) for run in record["runs"])
    return (f"validation accuracy after {steps:,} steps at a learning rate of {s['lr']}, "
            f"{len(s['seeds'])} seed{'s' if len(s['seeds']) != 1 else ''}: " + "; ".join(parts))
