"""Train a CNN: the chapter's NumPy network, its PyTorch twin or MNISTConvNet, live."""

import numpy as np
import streamlit as st

from cnnviz import images, models
from cnnviz.figures import training as fig
from cnnviz.train import jobs
from cnnviz.train.scratch import networks
from cnnviz.train.scratch import weights_io
from cnnviz.train.evaluation import row_normalised, worst_mistakes
from cnnviz.train.scratch.gradcheck import gradient_check
from cnnviz.train.scratch.mnist_convnet import shape_comments
from cnnviz.train.scratch.networks import NETS, Recipe
from cnnviz.train.scratch.numpy_net import scratch_cnn
from cnnviz.train.offline_mnist import Standardise
from cnnviz.train.scratch.own_digit import DigitError, prepare_digit
from cnnviz.train.scratch.session import TrainingRun
from cnnviz.train.scratch.twin import agreement
from cnnviz.ui import presentation, watch_training
from cnnviz.ui.charts import CONFIG
from cnnviz.ui.training import DATA_CHOICES, data_or_fallback, queue_options

RUN = "training_run"  # the session's TrainingRun
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
MAX_SECONDS = 600  # one round of training at most; the job enforces it
IDLE_SECONDS = 30  # a round stops this long after its page was last drawn
UPLOAD_TYPES = ["npz", "pt", "pth"]
CHANNELS = {"4, 8": (4, 8), "8, 16 (the chapter's)": (8, 16), "16, 32": (16, 32)}

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
with page.controls():
    top = st.columns([1.4, 1.4, 1, 1])
    net = top[0].radio("Network", tuple(NETS), format_func=NETS.get, key="train_net",
                       disabled=busy)
    data_name = top[1].selectbox("Data", tuple(DATA_CHOICES), format_func=DATA_CHOICES.get,
                                 key="train_data", disabled=busy,
                                 help="The subset ships with the app. The full data sets are "
                                      "used when they are in the data folder or can be "
                                      "downloaded.")
    optimizer = top[2].radio("Optimiser", ("adam", "sgd"), key="train_optimizer", disabled=busy,
                             format_func={"adam": "Adam", "sgd": "SGD, momentum 0.9"}.get)
    lr = top[3].select_slider("Learning rate", LEARNING_RATES, value=1e-3, key="train_lr",
                              format_func=lambda v: f"{v:g}", disabled=busy)
    row = st.columns(5)
    batch_size = row[0].select_slider("Batch size", (16, 32, 64, 128), value=32,
                                      key="train_batch", disabled=busy)
    epochs = row[1].number_input("Epochs", 1, 20, 3, key="train_epochs", disabled=busy)
    scratch = net != "mnistconvnet"
    channels = CHANNELS[row[2].selectbox("Channels (conv1, conv2)", tuple(CHANNELS), index=1,
                                         key="train_channels", disabled=busy or not scratch,
                                         help="MNISTConvNet's channels are the chapter's: "
                                              "32, 64, 128.")]
    batch_norm = row[3].toggle("Batch norm", key="train_bn", disabled=busy or not scratch,
                               help="After each convolution (MNISTConvNet always has it).")
    max_seconds = row[4].number_input("Time limit (s)", 10, MAX_SECONDS, 120, step=10,
                                      key="train_seconds", disabled=busy)

data_used, split = data_or_fallback(data_name)
limit = min(len(split.train), jobs.MAX_TRAIN_IMAGES)
train_images = (limit if limit <= 5000 else page.controls().slider(
    "Training images", 1000, limit, min(limit, 10_000), step=1000, key="train_images",
    disabled=busy, help="Fewer images train faster; the NumPy network is slower than PyTorch."))
recipe = Recipe(net, optimizer, float(lr), int(batch_size), int(epochs),
                tuple(channels) if scratch else (), bool(batch_norm) if scratch else False)
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
           f"{models.device_description()}.")
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
        st.caption(f"Weights loaded from {run.loaded_from}.")
    st.metric("Test accuracy", f"{run.test_accuracy():.2%}",
              help=f"On {len(labels):,} test images the network never trained on.")
    counts = run.confusion()
    left, right = st.columns(2)
    left.plotly_chart(fig.confusion_figure(counts, classes, normalised=False), config=CONFIG)
    right.plotly_chart(fig.confusion_figure(row_normalised(counts), classes, normalised=True),
                       config=CONFIG)
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
            learner = networks.learner_from_file(upload.getvalue(), run.recipe, run.prepare)
        except weights_io.WeightsFileError as err:
            st.error(f"**{upload.name}**: {err}")
        else:
            run.replace_learner(learner, upload.name)
            st.session_state._train_loaded = upload.file_id
            st.rerun()

with own:
    st.markdown("Write a digit on paper, take a photo (or upload one), and see it prepared the "
                "way MNIST's digits were: grey levels, light ink on black, cropped, scaled to "
                "fit 20×20, centred by its centre of mass in 28×28.")
    if split.test.images.ndim != 3:
        st.info("This network reads colour photos; the digit preparation is for MNIST-style "
                "networks.")
    else:
        source = st.segmented_control("Digit", ("Upload", "Camera"), default="Upload",
                                      key="train_own_source", required=True)
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
                steps_cols = st.columns(len(prepared.steps))
                for col, (title, picture) in zip(steps_cols, prepared.steps):
                    col.image(picture, caption=title, width="stretch", clamp=True)
                p = run.learner.logits(prepared.digit[None])
                p = np.exp(p - p.max()) / np.exp(p - p.max()).sum()
                st.markdown(f"### The network reads **{classes[int(p.argmax())]}** "
                            f"({p.max():.0%})")
                st.plotly_chart(fig.probabilities_figure(p[0], classes), config=CONFIG,
                                key="train_own_probs")

with twins:
    st.markdown("The NumPy network and its PyTorch twin start from the same weights and see "
                "the same batches, in float64. If every backward pass in NumPy is right, their "
                "losses and gradients agree to rounding error.")
    settings = st.columns(3)
    twin_optimizer = settings[0].radio("Optimiser ", ("adam", "sgd"), key="twin_optimizer")
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
        st.plotly_chart(fig.agreement_figure(np_losses, torch_losses), config=CONFIG,
                        key="train_agreement")
        loss_diff = float(np.max(np.abs(np.subtract(np_losses, torch_losses))))
        st.markdown(f"Largest loss difference **{loss_diff:.1e}**, largest gradient difference "
                    f"**{grad_diff:.1e}** (float64 rounding is about 1e−16 per operation).")
        st.markdown("**Finite-difference check** of the NumPy backward passes: relative error "
                    "between the gradient and (L(θ+ε) − L(θ−ε)) / 2ε, per parameter.")
        st.dataframe({"parameter": list(errors), "relative error": [f"{v:.1e}" for v in
                                                                    errors.values()]},
                     hide_index=True)
    if split.test.images.ndim == 3:
        st.markdown("**The chapter's MNISTConvNet: its shape comments against PyTorch**")
        st.dataframe([{"chapter's comment": r["comment"],
                       "PyTorch's shape": " × ".join(map(str, r["real"])),
                       "agrees": "yes" if r["agrees"] else "no: " + " × ".join(
                           map(str, r["claimed"])) + " claimed"} for r in shape_comments()],
                     hide_index=True)

with data_tab:
    counts_table = {"class": list(classes)}
    for name, part in (("training", run.train), ("validation", split.validation),
                       ("test", split.test)):
        counts_table[name] = part.counts().tolist()
    st.markdown(f"**{DATA_CHOICES[data_used]}**: a stratified split (seed 0) keeps every "
                "class's share the same in each part.")
    st.dataframe(counts_table, hide_index=True)
    st.image(fig.digits(run.train.images[:40], columns=10, scale=2),
             caption="The first 40 training images")
