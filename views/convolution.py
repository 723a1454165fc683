"""Convolution by hand: the sliding dot product, one output cell at a time."""

import inspect

import numpy as np
import streamlit as st

from cnnviz import arithmetic
from cnnviz.figures.grids import photo_with_box, predict_animation, step_animation
from cnnviz.figures.step_gif import animation_gif
from cnnviz.formatting import fmt_number
from cnnviz.ops import examples, filtering, loops
from cnnviz.ops.examples import KERNELS
from cnnviz.ops.grid_text import format_grid, parse_grid
from cnnviz.ops.stepper import Follow, Stepper, follow
from cnnviz.ops.steps import POOLING_KINDS, conv_trace, pool_trace
from cnnviz.ui import presentation, url_state, viewport
from cnnviz.ui.animation import animate
from cnnviz.ui.charts import plot
from cnnviz.ui.pickers import image_picker

MODES = ("convolution", "pooling")
CUSTOM = "custom (as typed)"
PADDINGS = ("0", "1", "2", "3", "valid", "same", "full")
MAX_BIAS = 1000  # a link's bias beyond this helps no one and only hides the sum
PHOTO_SIDE = 48  # the photo is shrunk to this before cropping, so a patch shows a real detail
# What choosing one of the chapter's examples sets, so it is reproduced exactly.
CHAPTER_SETUPS = {
    "worked example": dict(mode="convolution", kernel_preset="vertical edge (chapter)",
                           stride=1, padding="0", dilation=1, bias=0.0),
    "exercise": dict(mode="convolution", kernel_preset="diagonal (chapter exercise)",
                     stride=1, padding="0", dilation=1, bias=0.0),
    "pooling example": dict(mode="pooling", pool_size=2, stride=2, padding="0"),
}
URL_KEYS = ("mode", "source", "rgb", "size", "seed", "top", "left", "grid", "kernel_preset",
            "kernel", "stride", "padding", "dilation", "bias", "flip", "pool_kind",
            "pool_size", "predict", "step")

page = presentation.page_header(
    "Convolution by hand",
    "A convolution slides a small kernel over the input and, at every position, multiplies "
    "the numbers that overlap and adds them up. Step through it one output cell at a time, "
    "or press play and watch the output fill in.")


stepper: Stepper = st.session_state.setdefault("_stepper", Stepper())


def set_step(value: int) -> None:
    stepper.go(value)
    st.session_state.step = stepper.step


def restart() -> None:
    stepper.restart()
    st.session_state.step = 1


def choose_source() -> None:
    """The chapter's examples come with their own kernel, stride and padding."""
    for key, value in CHAPTER_SETUPS.get(st.session_state.source, {}).items():
        st.session_state[key] = value
    restart()


def mark_custom_kernel() -> None:
    st.session_state.kernel_preset = CUSTOM


# Drawn in this order on screen; filled in the order the values are needed. On a phone the
# board comes first: its settings would take a whole screen above it.
if viewport.narrow() and not page.presenting:
    stage, controls = st.container(), page.controls()
else:
    controls, stage = page.controls(), st.container()
details, whole_image = st.container(), st.container()

# ---------------------------------------------------------------- controls
url_state.bind("mode", MODES[0], allowed=MODES)
url_state.bind("source", examples.SOURCES[0], allowed=examples.SOURCES)
url_state.bind("rgb", False)
url_state.bind("size", 5, allowed=range(3, 13))
url_state.bind("seed", 0, allowed=range(0, 10_001))
url_state.bind("kernel_preset", "vertical edge (chapter)", allowed=(*KERNELS, CUSTOM))
url_state.bind("stride", 1, allowed=range(1, 5))
url_state.bind("padding", "0", allowed=PADDINGS)
url_state.bind("dilation", 1, allowed=range(1, 4))
url_state.bind("bias", 0.0, valid=lambda b: abs(b) <= MAX_BIAS)
url_state.bind("flip", False)
url_state.bind("pool_kind", POOLING_KINDS[0], allowed=POOLING_KINDS)
url_state.bind("pool_size", 2, allowed=range(2, 5))
url_state.bind("predict", False)
url_state.bind("step", 1, allowed=range(1, 10_000))

with controls:
    # Wide enough for every choice's whole name, in the settings pop-over too: the choices
    # first, then the numbers, then the switches.
    top = st.columns([1.35, 1.15, 1.5])
    top[0].segmented_control("Operation", MODES, key="mode", required=True, on_change=restart)
    top[1].selectbox("Input", examples.SOURCES, key="source", on_change=choose_source)
    pooling = st.session_state.mode == "pooling"
    if pooling:
        top[2].segmented_control("Pooling", POOLING_KINDS, key="pool_kind", required=True)
    else:
        top[2].selectbox("Kernel", (*KERNELS, CUSTOM), key="kernel_preset")

    row = st.columns(6)
    if st.session_state.source in ("random grid", "photo patch"):
        row[0].number_input("Size", 3, 12, key="size", help="Rows and columns of the input.")
    if st.session_state.source == "random grid":
        row[1].number_input("Random seed", 0, 10_000, key="seed")
    if pooling:
        row[2].number_input("Window size", 2, 4, key="pool_size")
    else:
        row[2].number_input("Bias b", step=0.5, key="bias")
    row[3].number_input("Stride S", 1, 4, key="stride")
    row[4].selectbox("Padding P", PADDINGS, key="padding",
                     help="Pixels of zeros on each side, or a named mode: valid = none; same = "
                          "output ⌈n / S⌉ (TensorFlow's rule, the odd pixel at the bottom / "
                          "right); full = d·(F − 1) on each side with dilation d (F − 1 "
                          "without), so every pixel meets every tap.")
    if not pooling:
        row[5].number_input("Dilation d", 1, 3, key="dilation",
                            help="Spread the kernel's taps d pixels apart.")

    toggles = st.columns([1, 1, 1])
    if not pooling and st.session_state.source in ("random grid", "photo patch"):
        toggles[2].toggle("RGB (3 channels)", key="rgb")
    if not pooling:
        toggles[0].toggle("True convolution", key="flip",
                          help="What deep learning calls convolution is cross-correlation: the "
                               "kernel is used as it is. Mathematics' convolution first turns "
                               "it by 180°.")
    toggles[1].toggle("Predict, then reveal", key="predict", on_change=restart,
                      help="Guess the output's size, then type each output value before the "
                           "app shows it.")
    if st.session_state.flip and not pooling:
        st.caption("True convolution turns the kernel by 180° before sliding it. For a learned "
                   "kernel this changes nothing: the network would simply learn the flipped "
                   "weights, so libraries skip the flip.")

# ---------------------------------------------------------------- the input grid
rgb = st.session_state.rgb and not pooling
channels = 3 if rgb else 1
with details, st.expander("Photo", expanded=st.session_state.source == "photo patch"):
    photo = image_picker()
    small = None if photo is None else examples.shrink(photo, PHOTO_SIDE)
    size = st.session_state.size
    if small is not None and st.session_state.source == "photo patch":
        size = min(size, small.width, small.height)
        url_state.bind("top", small.height // 2 - size // 2, allowed=range(0, PHOTO_SIDE))
        url_state.bind("left", small.width // 2 - size // 2, allowed=range(0, PHOTO_SIDE))
        st.session_state.top = min(st.session_state.top, small.height - size)
        st.session_state.left = min(st.session_state.left, small.width - size)
        crop = st.columns([1, 1, 2])
        crop[0].slider("Patch row", 0, small.height - size, key="top")
        crop[1].slider("Patch column", 0, small.width - size, key="left")
        with crop[2]:
            plot(photo_with_box(np.asarray(small), st.session_state.top, st.session_state.left,
                                size, f"The photo at {small.width} × {small.height} pixels"),
                 key="photo_crop")


def source_grid() -> np.ndarray | None:
    """The input the chosen source gives; None when it needs a photo that is not there."""
    return examples.starting_grid(st.session_state.source, channels, st.session_state.size,
                                  st.session_state.seed, small, st.session_state.get("top"),
                                  st.session_state.get("left"))


def kernel_preset() -> np.ndarray | None:
    """The chosen preset, one copy per channel; None for a typed kernel (keep it as it is)."""
    preset = st.session_state.kernel_preset
    if preset == CUSTOM:
        if "kernel" in st.session_state:
            return None
        preset = "vertical edge (chapter)"  # a link that says "custom" but gives no kernel
    return np.stack([KERNELS[preset]] * channels)


def follow_preset(key: str, signature, make) -> None:
    """Keep the typed grid ``key`` in step with its preset: regenerate it when the preset's
    settings change, but keep a grid that came from the link or was edited by hand (and
    restore it from the link when its text box was not on screen for a run)."""
    seen = f"_{key}_from"
    action = follow(st.session_state.get(seen), signature, key in st.session_state)
    if action is Follow.KEEP:
        return
    value = make()
    if value is not None and action is Follow.REPLACE:
        st.session_state[key] = format_grid(value)
        restart()
    elif value is not None:
        url_state.bind(key, format_grid(value))
    st.session_state[seen] = signature


photo_id = None if small is None else small.tobytes()  # tiny: the photo shrunk to 48 pixels
follow_preset("grid", (st.session_state.source, channels, st.session_state.size,
                       st.session_state.seed, st.session_state.get("top"),
                       st.session_state.get("left"), photo_id), source_grid)
follow_preset("kernel", (st.session_state.kernel_preset, channels), kernel_preset)
if "grid" not in st.session_state:
    stage.warning("Choose a photo below to crop a patch from, or pick another input.")
    st.stop()

with details, st.expander("Edit the numbers", expanded=False):
    st.caption("One row per line, numbers separated by spaces; a blank line starts the next "
               "channel. Fractions such as 1/9 are fine.")
    edit = st.columns(2)
    edit[0].text_area("Input", key="grid", height=200, on_change=restart)
    if not pooling:
        edit[1].text_area("Kernel", key="kernel", height=200, on_change=mark_custom_kernel)
    with st.popover("The chapter's loop, for reference"):
        st.caption("Chapter 13's NumPy version: one Python loop step per output pixel. The app "
                   "computes the same numbers with a vectorised engine (cnnviz.ops).")
        st.code(inspect.getsource(loops.conv2d), language="python")

padding = arithmetic.parse_padding(st.session_state.padding)
try:
    x = parse_grid(st.session_state.grid)
    if pooling:
        if len(x) > 1:
            stage.info("Pooling works on each channel separately; this shows the first channel.")
        trace = pool_trace(x[0], st.session_state.pool_size, st.session_state.pool_kind,
                           st.session_state.stride, padding)
    else:
        kernel = parse_grid(st.session_state.kernel)
        if st.session_state.flip:
            kernel = kernel[:, ::-1, ::-1]
        if len(kernel) != len(x):
            raise ValueError(f"the input has {len(x)} channel(s) but the kernel has "
                             f"{len(kernel)}: a filter needs one slice per input channel. "
                             f"Pick a kernel preset to get a matching one.")
        trace = conv_trace(x, kernel, st.session_state.bias, st.session_state.stride, padding,
                           st.session_state.dilation)
except ValueError as err:
    stage.error(f"This setting cannot be drawn: {str(err).rstrip('.')}.")
    url_state.publish(*URL_KEYS)
    st.stop()

g = trace.geometry
config_id = (st.session_state.grid, st.session_state.get("kernel"), st.session_state.mode,
             st.session_state.pool_kind, st.session_state.pool_size, st.session_state.stride,
             padding, st.session_state.dilation, st.session_state.bias, st.session_state.flip)
stepper.show(config_id, len(trace), st.session_state.step)
st.session_state.step = stepper.step
size_hidden = stepper.size_hidden(st.session_state.predict)
if not size_hidden:  # predicting, the size and its working wait for the student's guess
    with details, st.expander(f"Output size: {g.out[0]} × {g.out[1]}", expanded=False):
        for axis, name in enumerate(("rows", "columns")):
            work = arithmetic.size_work(x.shape[1 + axis], g.kernel[axis], padding,
                                        g.stride[axis], g.dilation[axis])
            st.markdown(f"**{name}**")
            st.latex(work.latex(aligned=True))

# ---------------------------------------------------------------- predict, then reveal
def check_size() -> None:
    guess = (st.session_state.guess_rows, st.session_state.guess_cols)
    st.session_state.size_right = stepper.check_size(guess, g.out)


def check_guess(index: int, truth: float) -> None:
    stepper.check(index, st.session_state.get(f"guess_{index}"), truth)


def predicting() -> None:
    """Predict, then reveal: first the output's size, then each cell's value; the board
    shows one step at a time and its controls ask the server for the next."""
    if stepper.size_known:
        if st.session_state.get("size_right"):
            st.success(f"Right: the output is {g.out[0]} × {g.out[1]}.")
        else:
            st.error(f"Not quite: the output is {g.out[0]} × {g.out[1]} — open “Output size” "
                     f"below the animation for the working.")
    else:
        with st.form("predict_size"):
            st.markdown("**Before you start: how big is the output?**")
            size_cols = st.columns(2)
            size_cols[0].number_input("Output rows", 0, 100, 0, key="guess_rows")
            size_cols[1].number_input("Output columns", 0, 100, 0, key="guess_cols")
            st.form_submit_button("Check the size", on_click=check_size)
    index = st.session_state.step - 1
    hide = stepper.is_hidden(index, True)
    animate(predict_animation(trace, index, hide=hide, show_output=stepper.size_known,
                              flipped=st.session_state.flip),
            key="board_predict", on_step=lambda k: set_step(k + 1))
    if not stepper.size_known:
        return
    verdict = stepper.verdict
    if hide:
        with st.form(f"predict_{index}"):
            st.number_input(f"Your value for output cell {divmod(index, g.out[1])}",
                            value=None, step=1.0, key=f"guess_{index}")
            st.form_submit_button("Check", on_click=check_guess,
                                  args=(index, trace.step(index).result))
    else:
        if verdict and verdict[0] == index:
            if verdict[1]:
                st.success("Right! Here is the working.")
            else:
                st.error(f"Not quite: the value is {fmt_number(trace.step(index).result)}. "
                         f"Here is the working.")
        if index + 1 < len(trace):
            st.button("Next cell", icon=":material/chevron_right:", on_click=set_step,
                      args=(index + 2,), type="primary")


with stage:
    if st.session_state.predict:
        predicting()
    else:
        animate(step_animation(trace, start=st.session_state.step - 1,
                               flipped=st.session_state.flip), key="board")
    notes = ["Click an output cell to jump to it; ← and → step, the space bar plays."]
    if g.pad != ((0, 0), (0, 0)):
        notes.insert(0, "Grey cells are padding" + (" (−∞ for max pooling, never chosen)."
                                                   if trace.op == "max pooling" else "."))
    st.caption(" ".join(notes))

name = "pooling" if pooling else "convolution"
details.download_button("Download this animation as a GIF (for slides)",
                        data=lambda: animation_gif(step_animation(trace,
                                                                  flipped=st.session_state.flip)),
                        file_name=f"{name}.gif", mime="image/gif", on_click="ignore",
                        icon=":material/animated_images:",
                        help="Every step as on this page, 1280 pixels wide.")

# ---------------------------------------------------------------- the whole photo
whole_image.subheader("Apply to the whole image")
if photo is None:
    whole_image.info("Choose a photo in the “Photo” section above to see this on a whole image.")
else:
    picture = examples.shrink(photo, 480)
    try:
        if pooling:
            result = filtering.pool_image(picture, st.session_state.pool_kind,
                                          st.session_state.pool_size, st.session_state.stride,
                                          padding)
        else:
            whole_kernel = trace.kernel if rgb else trace.kernel[0]
            result = filtering.filter_image(picture, whole_kernel, rgb, st.session_state.stride,
                                            padding, st.session_state.dilation)
    except ValueError as err:
        whole_image.error(f"This setting cannot be applied to the photo: {str(err).rstrip('.')}.")
    else:
        shown = whole_image.columns(2)
        shown[0].image(picture, caption=f"Original, {picture.width} × {picture.height}",
                       width="stretch")
        if pooling:
            how = (f"{st.session_state.pool_kind} pooling of each colour channel, "
                   f"{st.session_state.pool_size} × {st.session_state.pool_size} windows")
        elif rgb:
            how = "in colour, each channel with its kernel slice"
        else:
            how = "of the photo in greyscale"
        enlarged, factor = filtering.enlarged(filtering.to_picture(result), picture.size)
        shown[1].image(enlarged, width="stretch",
                       caption=f"Result {how}: {result.shape[2]} × {result.shape[1]}"
                               + (f", each pixel drawn {factor} × {factor} to match the "
                                  f"original" if factor > 1 else "")
                               + (" (signed values shown as |y|)" if result.min() < 0 else ""))

url_state.publish(*URL_KEYS)
