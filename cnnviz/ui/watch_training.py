"""The live part of the "Train a CNN" page: the run's place in the queue and its progress,
its controls while it trains (pause, one step, resume, the learning rate now), the learning
curves, and one view inside the network that the student picks, for one test digit:

- **Layers**: every layer's output, the digit's class probabilities;
- **Weights**: the first layer's kernels as images, every other layer's as a histogram;
- **Gradients**: every layer's gradient norm per step on one log axis;
- **Test digits**: a stream of test digits with the network's current guess (ConvNetJS);
- **Whole network**: every channel of every layer with the connections of the neuron
  clicked (CNN Explainer), and a clicked convolution channel computed in place, cell by cell,
  with every input channel and the trained numbers.

A fragment redraws it once a second while the run trains; its cost is bounded whatever the
run's length (the history is thinned, a view draws a fixed number of things), and a run that
waits for its turn draws its place only.
"""

import urllib.parse

import numpy as np
import streamlit as st

from cnnviz.figures import training as fig
from cnnviz.figures.grids import step_animation
from cnnviz.figures.style import fmt_number
from cnnviz.ops.steps import conv_trace
from cnnviz.train.scratch.network_overview import (
    channel_source,
    convolution_patch,
    convolution_query,
)
from cnnviz.train.scratch.session import TrainingRun
from cnnviz.ui import url_state, viewport
from cnnviz.ui.animation import animate
from cnnviz.ui.charts import plot
from cnnviz.ui.training import progress_line

VIEWS = {"layers": "Layers", "weights": "Weights", "gradients": "Gradients",
         "stream": "Test digits", "whole": "Whole network"}
REFRESH_SECONDS = 1.0  # a redraw a second while training: enough to watch, cheap to serve
WAITING_REFRESH_SECONDS = 2.0  # while waiting for a turn: the place and the estimate
STREAM = 12  # test digits in the stream at once
MAPS_PER_LAYER = 16  # channels drawn per layer in the Layers view
SEEN_DONE = "_train_seen_done"  # the job whose end the page has redrawn for
CHANNEL, ANIMATION, CURSOR = "_train_channel", "_train_animation", "_train_stream"
OVERVIEW = "_train_overview_at"  # (learner and digit, step, layer outputs) drawn last


def show(run: TrainingRun, split, learning_rates) -> None:
    """The live section; call once per run of the page's script. Two fragments redraw apart:
    the progress, controls and curves; the view inside the network, except the whole
    network, which holds still so that a click on it is never lost to a redraw. A waiting
    run redraws its place only, every two seconds (a class of 30 waits at once: each redraw
    costs the server), and the page is run whole once when its turn comes or goes."""
    def waits(snap) -> bool:  # for its turn (not for a step asked while paused)
        return snap is not None and snap.state == "queued" and not run.paused

    waiting = waits(run.poll())

    @st.fragment(run_every=None if not run.training else
                 WAITING_REFRESH_SECONDS if waiting else REFRESH_SECONDS)
    def progress() -> None:
        snap = run.poll()
        if snap is not None:
            progress_line(snap)
            if snap.done and st.session_state.get(SEEN_DONE) is not run.job:
                st.session_state[SEEN_DONE] = run.job
                st.rerun()  # redraw the whole page once: results, enabled buttons
            if not snap.done and waits(snap) != waiting:
                st.rerun()  # its turn came or went: the whole page, with its redraw rates
            if waiting:
                st.caption("The curves and the views inside the network appear when its turn "
                           "comes; keep this page open (a closed page leaves the queue).")
                return
        if run.state != "new":
            controls(run, learning_rates)
        steps, epochs = run.history()
        if not steps:
            st.caption("Press Start: the curves and the views inside the network change as "
                       "the network learns.")
        total = snap.latest["total_steps"] if snap is not None and snap.latest else None
        plot(fig.learning_curves(steps, epochs, total, run.rate_changes(),
                                 stacked=viewport.narrow()), key="train_curves")
        if epochs and "val_accuracy" in epochs[-1]:
            st.caption(f"Validation accuracy after epoch {epochs[-1]['epoch']}: "
                       f"**{epochs[-1]['val_accuracy']:.1%}**")

    def live(view: str) -> bool:
        return run.training and view != "whole"

    url_state.choice("train_watch", VIEWS, label=VIEWS.get)
    redrawn = live(st.session_state.train_watch) and not waiting

    @st.fragment(run_every=REFRESH_SECONDS if redrawn else None)
    def views() -> None:
        if waiting:
            return  # a waiting run draws its place only
        pick = st.columns([3, 1])
        view = pick[0].radio("Watch", tuple(VIEWS), format_func=VIEWS.get, key="train_watch",
                             horizontal=True)  # ink on white: legible on a projector
        if live(view) != redrawn:
            st.rerun()  # the whole page: this fragment's redraws start or stop
        url_state.number("train_digit", 0, 0, len(split.test) - 1)
        index = int(pick[1].number_input("Test digit", 0, len(split.test) - 1,
                                         key="train_digit"))
        inside(run, split, view, index)

    progress()
    views()


def controls(run: TrainingRun, learning_rates) -> None:
    """Pause / Resume, one Step, and the learning rate from the next step on."""
    cols = st.columns([1, 1, 3])
    paused = run.paused
    if cols[0].button("Resume" if paused else "Pause", disabled=not run.training,
                      icon=":material/play_arrow:" if paused else ":material/pause:",
                      key="train_pause"):
        (run.resume if paused else run.pause)()
        st.rerun(scope="fragment")
    if cols[1].button("Step", disabled=not paused, icon=":material/skip_next:",
                      key="train_step", help="One batch, then paused again."):
        run.step()
    rate = min(learning_rates, key=lambda v: abs(np.log(v / run.learning_rate)))
    key = f"train_lr_now_{id(run.learner)}"  # a new network starts from its own rate
    cols[2].select_slider("Learning rate from the next step", learning_rates, value=rate,
                          key=key, format_func=lambda v: f"{v:g}",
                          on_change=lambda: run.set_learning_rate(st.session_state[key]),
                          help="Changed during the run: the curves mark the step.")


def inside(run: TrainingRun, split, view: str, index: int) -> None:
    """The view inside the network the student picked, for the test digit picked."""
    classes = split.test.classes
    if view == "stream":
        stream(run, split)
        return
    if view == "gradients":
        steps = run.history()[0]
        if not steps:
            st.caption("No gradients yet: each step of a training records them.")
            return
        plot(fig.gradient_norms_figure(steps), key="train_gradients")
        st.caption("‖∂L/∂θ‖ of each layer's weights and biases at every step (thinned for a "
                   "long run), on one log axis: a layer whose line sinks far below the "
                   "others learns slowly (vanishing gradients).")
        return
    if view == "weights":
        weights(run)
        return
    if view == "whole":
        whole_network(run, split, index)
        return
    found = run.layer_outputs(run.prepare(split.test.images[index:index + 1]))
    scores = found[-1].output
    probabilities = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    top = st.columns([1, 3])
    top[0].image(fig.digits(split.test.images[index][None], columns=1, scale=4),
                 caption=f"true: {classes[split.test.labels[index]]}")
    with top[1]:
        plot(fig.probabilities_figure(probabilities, classes), key="train_digit_probs")
    for stage in found[1:]:
        if stage.output.ndim == 3 and stage.kind in ("conv", "batchnorm", "relu", "pool"):
            maps = stage.output
            shown = min(len(maps), MAPS_PER_LAYER)
            st.markdown(f"**{stage.name}** ({stage.kind}): {maps.shape[0]} maps of "
                        f"{maps.shape[1]}×{maps.shape[2]}"
                        + (f", the first {shown} drawn" if shown < len(maps) else ""))
            st.image(fig.tiles(maps[:shown], columns=MAPS_PER_LAYER,
                               scale=max(1, 56 // maps.shape[1])), width="stretch")


def weights(run: TrainingRun) -> None:
    layers = run.weights()
    first_name, first = layers[0]
    columns = min(len(first), 16)
    st.markdown(f"**{first_name}**: its {len(first)} kernels of "
                f"{first.shape[1]} × {first.shape[2]} × {first.shape[3]}")
    if first.shape[1] == 3:
        st.image(fig.colour_kernels(first, columns=columns, scale=16), width="stretch")
        st.caption("Each kernel's red, green and blue weights as one colour patch, scaled on "
                   "their own to 0–255 (lowest weight 0, highest 255), as AlexNet's paper shows "
                   "its first layer (its Figure 3: edges and colour blobs). Here they start as "
                   "noise.")
    else:
        st.image(fig.tiles(first[:, 0], columns=columns, scale=16), width="stretch")
        st.caption("Blue negative, orange positive, one shared scale (first input channel). "
                   "They start as noise and turn into edge and stroke detectors.")
    if len(layers) > 1:
        plot(fig.weight_histograms(layers[1:]), key="train_histograms")
        st.caption("Every other layer's weights as a histogram, each on its own range.")


def stream(run: TrainingRun, split) -> None:
    """The next test digits with the network's current guess, a new set every redraw while
    the run trains."""
    n = len(split.test)
    start = st.session_state.get(CURSOR, 0) % n
    if run.training and not run.paused:
        st.session_state[CURSOR] = start + STREAM
    picked = (start + np.arange(STREAM)) % n
    images, labels = split.test.images[picked], split.test.labels[picked]
    probabilities = run.guesses(images)
    guesses = probabilities.argmax(1)
    classes = split.test.classes
    right = int((guesses == labels).sum())
    st.markdown(f"**{right} of {STREAM}** right, test digits #{picked[0]}–#{picked[-1]} "
                f"(blue frame: right, vermillion: wrong)")
    st.image(fig.guessed_digits(images, guesses, labels),
             caption=[f"{classes[g]} ({p.max():.0%})" for g, p in zip(guesses, probabilities)],
             width=96)


def whole_network(run: TrainingRun, split, index: int) -> None:
    """The overview and the clicked channel's convolution. While the run trains they hold
    still (a figure redrawn every second loses the click that lands on it): they show the
    network of one step, redrawn on request, on a pause and at the end."""
    moving = run.training and not run.paused
    kept = st.session_state.get(OVERVIEW)
    redraw = st.button("Redraw with the network as it is now", icon=":material/refresh:",
                       disabled=not moving, key="train_redraw")
    if redraw or kept is None or kept[0] != (id(run.learner), index) or (
            not moving and kept[1] != run.steps_trained):
        found = run.layer_outputs(run.prepare(split.test.images[index:index + 1]))
        kept = st.session_state[OVERVIEW] = ((id(run.learner), index), run.steps_trained, found)
    _, at_step, found = kept
    st.markdown(f"Every channel of every layer for test digit #{index}, from the input on the "
                "left to the ten class scores on the right, as CNN Explainer draws its "
                f"network; here it is the network you are training, after step {at_step:,}. "
                "Click a channel: the lines show what it reads; a convolution's channel is "
                "then computed below, cell by cell.")
    picked = st.session_state.get(CHANNEL)
    classes = split.test.classes

    def remember_click() -> None:
        points = [p for p in st.session_state.train_overview.selection.points
                  if "customdata" in p]
        if points:
            st.session_state[CHANNEL] = tuple(points[0]["customdata"])

    plot(fig.overview_figure(found, picked, classes), key="train_overview",
         on_select=remember_click, selection_mode="points", width="content")
    st.caption(f"At most {fig.OVERVIEW_MAX_CHANNELS} channels per layer are drawn.")
    if picked is None or picked[0] >= len(found) or found[picked[0]].kind != "conv":
        return
    source = channel_source(found, picked[0], picked[1])
    stage = found[picked[0]]
    out_h, out_w = source.output.shape
    outputs = 4 if len(source.inputs) <= 16 else 2  # every input channel, on one screen
    where = st.columns(3)
    r = int(where[0].number_input("Output row", 0, out_h - outputs,
                                  min(out_h // 2, out_h - outputs), key="train_patch_row"))
    c = int(where[1].number_input("Output column", 0, out_w - outputs,
                                  min(out_w // 2, out_w - outputs), key="train_patch_col"))
    patch, expected = convolution_patch(source, r, c, outputs)
    key = (picked, r, c, outputs, id(run.learner), at_step)
    kept = st.session_state.get(ANIMATION)
    if kept is None or kept[0] != key:
        trace = conv_trace(patch, source.kernels, source.bias, stride=source.stride)
        kept = st.session_state[ANIMATION] = (key, step_animation(trace))
    st.markdown(f"**{stage.name}, channel {source.channel}** = Σ over all "
                f"{len(source.inputs)} input channels (input ⋆ kernel) + bias "
                f"{fmt_number(source.bias, 3)}: the {outputs}×{outputs} outputs from row {r}, "
                f"column {c}, one cell at a time.")
    animate(kept[1], key="train_conv_animation")
    st.caption(f"The weights after step {at_step:,}; the input is the padded patch of the "
               "layer's input maps.")
    query = convolution_query(source, r, c, outputs)
    where[2].link_button("Open in Convolution by hand",
                         "./convolution?" + urllib.parse.urlencode(query),
                         icon=":material/open_in_new:")
    st.caption(f"The link takes the {patch.shape[0]}-channel input patch of "
               f"{patch.shape[1]}×{patch.shape[2]} (padding included), the kernels and the "
               f"bias, rounded to 3 decimals; the page then computes these "
               f"{outputs}×{outputs} outputs: "
               + ", ".join(fmt_number(v, 2) for v in expected.ravel()[:4]) + " …")
