"""Train a CNN: the chapter's NumPy network, its PyTorch twin or MNISTConvNet, live."""

import numpy as np
import streamlit as st

from cnnviz import images, models
from cnnviz.figures import training as fig
from cnnviz.formatting import plain
from cnnviz.train import jobs
from cnnviz.train.scratch import networks
from cnnviz.train.scratch import weights_io
from cnnviz.train.evaluation import row_normalised, worst_mistakes
from cnnviz.train.scratch.gradcheck import gradient_check
from cnnviz.train.scratch.mnist_convnet import shape_comments
from cnnviz.train.scratch.networks import NETS, Recipe
from cnnviz.train.scratch.numpy_net import scratch_cnn
from cnnviz.train.offline_mnist import Standardise, largest_share_gap
from cnnviz.train.scratch.own_digit import DRAWING_SIDE, DigitError, prepare_digit, read_drawing
from cnnviz.train.scratch.session import TrainingRun
from cnnviz.train.scratch.twin import agreement
from cnnviz.ui import presentation, url_state, watch_training
from cnnviz.ui.charts import plot
from cnnviz.ui.drawing_pad import drawing_pad
from cnnviz.ui.training import DATA_CHOICES, data_or_fallback, queue_options

RUN = "training_run"  # the session's TrainingRun
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
MOMENTA = (0.0, 0.5, 0.9, 0.99)
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD"}
BATCH_SIZES = (16, 32, 64, 128)
MAX_SECONDS = 600  # one round of training at most; the job enforces it
IDLE_SECONDS = 30  # a round stops this long after its page was last drawn
UPLOAD_TYPES = ["npz", "pt", "pth"]
CHANNELS = {"4,8": (4, 8), "8,16": (8, 16), "16,32": (16, 32)}
CHANNEL_LABELS = {"4,8": "4, 8", "8,16": "8, 16 (the chapter's)", "16,32": "16, 32"}

page = presentation.page_header(
    "Train a CNN",
    "Train the chapter's network on real handwritten digits and watch it learn: the loss "
    "falls, the first layer's filters form, the validation accuracy climbs. The **NumPy "
    "network** is the chapter's *Complete CNN from scratch* (every forward and backward pass "
    "written out); its **PyTorch twin** is the same network in PyTorch, starting from the "
    "same weights; **MNISTConvNet** is the chapter's PyTorch model with batch norm and dropout.")

# ---------------------------------------------------------------- controls
run: TrainingRun | None = st.session_state.get(RUN)
busy = run is not None and run.training
url_state.choice("train_net", NETS, label=NETS.get)
url_state.choice("train_data", DATA_CHOICES, label=DATA_CHOICES.get)
url_state.choice("train_optimizer", OPTIMIZERS, label=OPTIMIZERS.get)
url_state.bind("train_momentum", 0.0, allowed=MOMENTA)
url_state.bind("train_lr", 1e-3, allowed=LEARNING_RATES)
url_state.bind("train_batch", 32, allowed=BATCH_SIZES)
url_state.number("train_epochs", 3, 1, 20)
url_state.choice("train_channels", CHANNELS, "8,16", label=CHANNEL_LABELS.get)
url_state.flag("train_bn")
url_state.number("train_seconds", 120, 10, MAX_SECONDS)
with page.controls():
    top = st.columns([1.4, 1.4, 0.8, 1, 1])
    net = top[0].radio("Network", tuple(NETS), format_func=NETS.get, key="train_net",
                       disabled=busy)
    data_name = top[1].selectbox("Data", tuple(DATA_CHOICES), format_func=DATA_CHOICES.get,
                                 key="train_data", disabled=busy,
                                 help="The subset ships with the app. The full data sets are "
                                      "used when they are in the data folder or can be "
                                      "downloaded.")
    optimizer = top[2].radio("Optimiser", tuple(OPTIMIZERS), key="train_optimizer",
                             disabled=busy, format_func=OPTIMIZERS.get)
    momentum = top[3].select_slider(
        "Momentum (SGD)", MOMENTA, key="train_momentum", format_func=lambda v: f"{v:g}",
        disabled=busy or optimizer != "sgd",
        help="0 is plain SGD, θ ← θ − lr·g, as in the chapter's NumPy lab (with lr 0.01). "
             "With momentum μ, each step follows v ← μ·v + g, a running sum of past "
             "gradients. Adam keeps its own moments.")
    lr = top[4].select_slider("Learning rate", LEARNING_RATES, key="train_lr",
                              format_func=lambda v: f"{v:g}", disabled=busy)
    row = st.columns(5) if not page.presenting else [*st.columns(3), *st.columns(2)]  # pop-over
    batch_size = row[0].select_slider("Batch size", BATCH_SIZES, key="train_batch",
                                      disabled=busy)
    epochs = row[1].number_input("Epochs", 1, 20, key="train_epochs", disabled=busy)
    scratch = net != "mnistconvnet"
    channels = CHANNELS[row[2].selectbox("Channels (conv1, conv2)", tuple(CHANNELS),
                                         format_func=CHANNEL_LABELS.get, key="train_channels",
                                         disabled=busy or not scratch,
                                         help="MNISTConvNet's channels are the chapter's: "
                                              "32, 64, 128.")]
    batch_norm = row[3].toggle("Batch norm", key="train_bn", disabled=busy or not scratch,
                               help="After each convolution (MNISTConvNet always has it).")
    max_seconds = row[4].number_input("Time limit (s)", 10, MAX_SECONDS, step=10,
                                      key="train_seconds", disabled=busy)

data_used, split = data_or_fallback(data_name)
limit = min(len(split.train), jobs.MAX_TRAIN_IMAGES)
if limit > 5000:
    url_state.bind("train_images", min(limit, 10_000),
                   valid=lambda n: 1000 <= n <= limit and n % 1000 == 0)
    st.session_state.train_images = min(st.session_state.train_images, limit)  # data changed
    url_state.publish("train_images")
train_images = (limit if limit <= 5000 else page.controls().slider(
    "Training images", 1000, limit, step=1000, key="train_images", disabled=busy,
    help="Fewer images train faster; the NumPy network is slower than PyTorch. They are a "
         "stratified sample of the training part: every class keeps its share."))
recipe = Recipe(net, optimizer, float(lr), int(batch_size), int(epochs),
                tuple(channels) if scratch else (), bool(batch_norm) if scratch else False,
                momentum=float(momentum) if optimizer == "sgd" else 0.0)
settings = (recipe, data_used, train_images)


def build() -> TrainingRun | None:
    try:
        new = TrainingRun(recipe, split, data_name=data_used, train_images=train_images)
    except ValueError as err:  # e.g. MNISTConvNet on CIFAR-10's colour photos
        st.error(str(err))
        return None
    st.session_state[RUN] = new
    return new


if run is None or (run.state == "new" and run.settings != settings):
    run = build()  # nothing trained yet: follow the controls
if run is None:
    st.stop()
changed = run.settings != settings


def start(seconds: float) -> None:
    try:
        st.session_state[RUN].start(max_seconds=float(seconds), idle_seconds=IDLE_SECONDS,
                                    **queue_options())
    except jobs.JobLimitError as err:
        st.session_state._train_refused = str(err)


def reset() -> None:
    del st.session_state[RUN]  # the script builds a new one from the controls


# Callbacks run before the script, so the buttons and controls are drawn in the new state.
buttons = st.columns([1, 1, 1, 4])
buttons[0].button("Start", type="primary", disabled=run.training or changed, on_click=start,
                  args=(max_seconds,), icon=":material/play_arrow:")
buttons[1].button("Stop", disabled=not run.training, on_click=run.stop, icon=":material/stop:")
buttons[2].button("Reset", disabled=run.training, on_click=reset, icon=":material/restart_alt:",
                  help="New random weights, with the settings above.")
st.caption("The NumPy network runs on the CPU; PyTorch networks on "
           f"{models.device_description()}. Training runs in this server's memory: leaving this "
           f"page for {IDLE_SECONDS} s stops a round (the weights so far stay), and a restart "
           "of the server loses the run; download the weights (under Results) to keep them.")
if "_train_refused" in st.session_state:
    st.warning(st.session_state.pop("_train_refused"))
if changed and not run.training:
    buttons[3].info("The settings changed: Reset builds the new network (Start would train "
                    "the old one).", icon=":material/info:")


# ---------------------------------------------------------------- live progress
watch_training.show(run, split, LEARNING_RATES)
if run.state != "trained":
    st.stop()

# ---------------------------------------------------------------- after training
classes = split.test.classes
results, own, twins, data_tab = st.tabs(
    ["Results", "Your own digit", "From scratch = PyTorch", "Data"])

with results:
    probabilities = run.test_probabilities()
    labels = split.test.labels
    if run.loaded_from:
        st.caption(f"Weights loaded from {plain(run.loaded_from)}.")
    st.metric("Test accuracy", f"{run.test_accuracy():.2%}",
              help=f"On {len(labels):,} test images the network never trained on.")
    counts = run.confusion()
    left, right = st.columns(2)
    with left:
        plot(fig.confusion_figure(counts, classes, normalised=False))
    with right:
        plot(fig.confusion_figure(row_normalised(counts), classes, normalised=True))
    st.subheader("The most confident mistakes")
    mistakes = worst_mistakes(probabilities, labels, k=10)
    if not mistakes:
        st.success("No mistakes on the test set.")
    cells = st.columns(5)
    for i, m in enumerate(mistakes):
        with cells[i % 5]:
            st.image(fig.digits(split.test.images[m["index"]][None], columns=1, scale=4))
            st.caption(f"#{m['index']}: **{classes[m['label']]}**, read as "
                       f"**{classes[m['predicted']]}** ({m['p_predicted']:.0%}; "
                       f"{classes[m['label']]}: {m['p_label']:.0%})")

    st.subheader("Keep the weights")
    blob, filename = networks.weights_file(run.learner, run.recipe.net)
    st.download_button("Download the trained weights", blob, file_name=filename,
                       icon=":material/download:")
    upload = st.file_uploader(f"Upload weights for the {NETS[run.recipe.net]} "
                              f"({'.npz' if run.recipe.net == 'numpy' else '.pt'})",
                              type=UPLOAD_TYPES, key="train_upload")
    if upload is not None and st.session_state.get("_train_loaded") != upload.file_id:
        try:
            learner = networks.learner_from_file(upload.getvalue(), run.recipe, run.prepare,
                                                  shape=run.shape, device=run.device)
        except weights_io.WeightsFileError as err:
            st.error(f"**{plain(upload.name)}**: {plain(err)}")
        else:
            run.replace_learner(learner, upload.name)
            st.session_state._train_loaded = upload.file_id
            st.rerun()

def show_probabilities(prepared) -> None:
    """What the network reads in a prepared digit: its class probabilities."""
    logits = run.learner.logits(prepared.digit[None])[0]
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    st.markdown(f"### The network reads **{classes[int(p.argmax())]}** ({p.max():.0%})")
    plot(fig.probabilities_figure(p, classes), key="train_own_probs")


def show_steps(prepared) -> None:
    for col, (title, picture) in zip(st.columns(len(prepared.steps)), prepared.steps):
        col.image(picture, caption=title, width="stretch", clamp=True)


@st.fragment
def drawn_digit() -> None:
    """The pad and what the network reads in it: only this reruns as the student draws."""
    pad, reading = st.columns(2)
    with pad:
        payload = drawing_pad(key="train_own_drawing", export_side=DRAWING_SIDE,
                              label="Drawing pad for one digit", placeholder="Draw a digit here",
                              hint="With a mouse, a pen or a finger.")
    if payload is None:
        reading.info("Draw one digit on the pad, large: the network's reading appears here and "
                     "changes as you draw.", icon=":material/draw:")
        return
    try:
        prepared = prepare_digit(read_drawing(payload))
    except DigitError as err:
        reading.warning(str(err))
    else:
        with reading:
            show_probabilities(prepared)
        show_steps(prepared)


with own:
    st.markdown("Draw a digit, or write one on paper and take a photo (or upload one), and see "
                "it prepared the way MNIST's digits were: grey levels, light ink on black, "
                "cropped, scaled to fit 20×20, centred by its centre of mass in 28×28.")
    if split.test.images.ndim != 3:
        st.info("This network reads colour photos; the digit preparation is for MNIST-style "
                "networks.")
    else:
        source = st.segmented_control("Digit", ("Draw", "Upload", "Camera"), default="Draw",
                                      key="train_own_source", required=True)
        if source == "Draw":
            drawn_digit()
        else:
            shot = (st.file_uploader("A photo of one handwritten digit", key="train_own_upload",
                                     type=["png", "jpg", "jpeg", "webp", "bmp", "gif"])
                    if source == "Upload" else st.camera_input("Photograph your digit",
                                                               key="train_own_camera"))
            if shot is not None:
                try:
                    prepared = prepare_digit(images.load_image(shot.getvalue()))
                except (images.ImageError, DigitError) as err:
                    st.error(str(err))
                else:
                    show_steps(prepared)
                    show_probabilities(prepared)

with twins:
    st.markdown("The NumPy network and its PyTorch twin start from the same weights and see "
                "the same batches, in float64. If every backward pass in NumPy is right, their "
                "losses and gradients agree to rounding error.")
    settings = st.columns(3)
    twin_optimizer = settings[0].radio("Optimiser ", ("adam", "sgd"), key="twin_optimizer",
                                       format_func={"adam": "Adam",
                                                    "sgd": "SGD, momentum 0.9"}.get)
    twin_bn = settings[1].toggle("Batch norm ", key="twin_bn")
    if settings[2].button("Run 20 steps of both"):
        with st.spinner("Training both networks…"):
            paired = agreement(split.train.images[:2000], split.train.labels[:2000], steps=20,
                               optimizer=twin_optimizer, batch_norm=twin_bn,
                               lr=0.01 if twin_optimizer == "sgd" else 1e-3,
                               prepare=Standardise.fit(split.train.images))
            errors = gradient_check(scratch_cnn(batch_norm=twin_bn, dtype=np.float64),
                                    Standardise.fit(split.train.images, np.float64)(
                                        split.train.images[:8]), split.train.labels[:8])
        st.session_state._train_twins = (paired.numpy_losses, paired.torch_losses,
                                         max(paired.gradient_differences), errors)
    if "_train_twins" in st.session_state:
        np_losses, torch_losses, grad_diff, errors = st.session_state._train_twins
        plot(fig.agreement_figure(np_losses, torch_losses), key="train_agreement")
        loss_diff = float(np.max(np.abs(np.subtract(np_losses, torch_losses))))
        st.markdown(f"Largest loss difference **{loss_diff:.1e}**, largest gradient difference "
                    f"**{grad_diff:.1e}** (float64 rounding is about 1e−16 per operation).")
        st.markdown("**Finite-difference check** of the NumPy backward passes on 8 training "
                    "images: for every entry of every parameter, the gradient backprop gives "
                    "against (L(θ+ε) − L(θ−ε)) / 2ε with ε = 10⁻⁶. Relative error: the largest "
                    "difference over the entries, divided by the largest gradient among them.")
        st.dataframe({"parameter": list(errors),
                      "entries checked": [f"{c.checked:,} of {c.entries:,}"
                                          for c in errors.values()],
                      "both zero (not tested)": [c.both_zero for c in errors.values()],
                      "relative error": [f"{c.error:.1e}" if c.tested else "not tested"
                                         for c in errors.values()]},
                     hide_index=True)
        st.caption("Both zero: backprop and the finite difference both give less than 10⁻⁸ "
                   "there, so there is nothing to compare (a weight that only meets zero "
                   "inputs; a bias just before batch norm, which subtracts it again).")
    if split.test.images.ndim == 3:
        st.markdown("**The chapter's MNISTConvNet: its shape comments against PyTorch**")
        st.dataframe([{"chapter's comment (H × W × C)": r["comment"], "after": r["layer"],
                       "chapter's shape (C × H × W)": " × ".join(map(str, r["claimed"])),
                       "PyTorch's shape (C × H × W)": " × ".join(map(str, r["real"])),
                       "agrees": "yes" if r["agrees"] else "no"} for r in shape_comments()],
                     hide_index=True)
        st.caption("Block 3's convolution is 3×3 without padding: 7 − 3 + 1 = 5, so it gives "
                   "128 × 5 × 5, not 3 × 3; the pool then floors 5 / 2 to 2, and 128 × 2 × 2 = "
                   "512 is what the code's nn.Linear(512, 128) expects.")

with data_tab:
    counts_table = {"class": list(classes)}
    for name, part in (("training", run.train), ("validation", split.validation),
                       ("test", split.test)):
        counts_table[name] = part.counts().tolist()
    whole_set = DATA_CHOICES[data_used].split(" (")[0]
    origin = ("the 5,000 digits cut class by class at the same fractions (seed 0)"
              if data_used == "subset" else
              f"training and validation cut class by class from {whole_set}'s training set "
              f"(seed 0); test is {whole_set}'s own test set, as published")
    sample = (f"; the {len(run.train):,} training images are a stratified sample of the "
              f"{len(split.train):,} (each class keeps its share)"
              if len(run.train) < len(split.train) else "")
    st.markdown(f"**{DATA_CHOICES[data_used]}**: {origin}{sample}. The largest difference in "
                "a class's share: training against validation "
                f"**{100 * largest_share_gap(run.train, split.validation):.2f}**, training "
                f"against test **{100 * largest_share_gap(run.train, split.test):.2f}** "
                "percentage points.")
    st.dataframe(counts_table, hide_index=True)
    st.image(fig.digits(run.train.images[:40], columns=10, scale=2),
             caption="The first 40 training images")
