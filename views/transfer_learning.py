"""Transfer learning: the chapter's soil lab on your own photos (or an offline texture demo)."""

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz import models
from cnnviz.figures import colours
from cnnviz.figures import training as curves
from cnnviz.figures.style import fmt_number
from cnnviz.figures.transfer import phase_curves, trainable_bars
from cnnviz.formatting import plain
from cnnviz.train import DatasetError, read_image_folders
from cnnviz.train.transfer import augment
from cnnviz.train.transfer import fine_tuned, kept_models
from cnnviz.train import transfer
from cnnviz.train.evaluation import row_normalised
from cnnviz.train.transfer.finetune import GRACE_SECONDS, FineTuning, Plan
from cnnviz.train.transfer.group_split import grouped_split
from cnnviz.train.transfer.near_duplicates import HAMMING_THRESHOLD
from cnnviz.train.transfer.report import MC_PASSES
from cnnviz.train.jobs import JobLimitError
from cnnviz.train.transfer.texture_demo import as_zip, demo_split, test_sources
from cnnviz.ui import cached, presentation, viewport
from cnnviz.ui.charts import plot
from cnnviz.ui import session_models
from cnnviz.ui.session_models import register
from cnnviz.ui.training import job_messages, queue_options, queue_text

DATA, RUN, RESULT, TRIED = "tl_data", "tl_run", "tl_result", "tl_tried"  # session state
DEMO, UPLOAD = "Texture demo (offline)", "Your photos (.zip)"
TITLES = {p.key: p.title.split(": ")[1] for p in transfer.PHASES}
PHASE_TITLES = {p.key: p.title for p in transfer.PHASES}
BACKBONE_TITLES = {"efficientnet_lite0": "EfficientNet-Lite0 (offline)", "resnet50": "ResNet-50",
                   "mobilenet_v2": "MobileNetV2", "efficientnet_b0": "EfficientNet-B0"}
IMBALANCE = 1.5  # largest class over smallest class above which the page warns
IDLE_SECONDS = 60
# Measured by bench/bench_transfer_bn.py on the demo (96 patches per class, 2 seeds, under load).
BATCH_NORM_NOTE = (
    "Batch norm stays frozen in phases 2 and 3: its layers normalise with the statistics "
    "they learnt on ImageNet, and only their scale and shift train. Trained instead, each "
    "would normalise with the mean and variance of the 8 photos of a batch, a noisy estimate "
    "that also overwrites ImageNet's. Measured on the demo, the test accuracy after phase 3 "
    "was 80 % and 74 % frozen against 79 % and 73 % trained (two seeds): no difference "
    "beyond the spread between runs, so the page keeps the usual practice, which trains and "
    "tests with the same normalisation.")
MAX_MINUTES = 30

page = presentation.page_header(
    "Transfer learning on your own photos",
    "The chapter's hands-on lab fine-tunes an ImageNet network to tell six Indian soil types "
    "apart. Here you do the same on a laptop: upload a zip with **one folder of photos per "
    "class** (or use the offline texture demo), and the page replaces the network's last "
    "layer with the chapter's head, trains it in the chapter's three phases, and shows what "
    "the result gets right, what it confuses, where it looks and how sure it is.")


@st.cache_resource(show_spinner="Cutting texture patches…")
def demo():
    return demo_split()


@st.cache_data(show_spinner=False, max_entries=4)
def demo_zip() -> bytes:
    return as_zip(demo()[0])


@st.cache_data(show_spinner=False, max_entries=8)
def phase_counts(name: str, classes: int) -> tuple[dict, int]:
    net = transfer.build(models.load_model(name), classes)
    return transfer.phase_counts(net), transfer.parameter_count(net)


@st.cache_data(show_spinner=False)
def chapter_check() -> tuple[dict, int, int]:
    return transfer.chapter_resnet50()


running = st.session_state.get(RUN)  # (FineTuning, backbone name) of the latest run
busy = running is not None and running[0].job is not None and not running[0].job.poll().done

# ------------------------------------------------------------------ 1. the photos
st.header("1 · The photos")
source = st.segmented_control("Photos", (DEMO, UPLOAD), default=DEMO, required=True,
                              key="tl_source", disabled=busy)
if source == DEMO:
    photos, split = demo()
    st.caption("Three textures, each in three photographs from the free sample data of Python "
               "packages, in grey and under random exposure so that only texture tells them "
               "apart, cut as patches of 48 to 96 pixels. Each class trains on two photos and "
               "is tested on the third, so the test measures new photos, not new corners of "
               "photos it trained on; validation, which picks the best weights, uses regions "
               "of the training photos that no training patch touches. Test photos: "
               + "; ".join(f"{name} from {credit}" for name, credit in test_sources().items())
               + ".")
    st.download_button("Download the demo as a zip of class folders", demo_zip(),
                       file_name="texture-demo.zip", icon=":material/download:",
                       help="The layout an upload takes: one folder per class.")
    st.session_state[DATA] = ("demo", photos, split)
else:
    upload = st.file_uploader("A .zip with one folder per class (at least 5 photos each)",
                              type=["zip"], key="tl_zip")
    kept = st.session_state.get(DATA)
    if upload is not None and (kept is None or kept[0] != upload.file_id):
        bar = st.progress(0.0, text="Reading the archive…")
        try:
            photos = read_image_folders(upload.getvalue(), progress=lambda done, total: bar.progress(
                done / total, text=f"Decoding photo {done:,} of {total:,}"))
        except DatasetError as err:
            bar.empty()
            st.error(f"**{plain(upload.name)}**: {plain(err)}")
            st.session_state.pop(DATA, None)
            st.stop()
        bar.empty()
        try:
            st.session_state[DATA] = (upload.file_id, photos,
                                      grouped_split(photos.labels, photos.groups))
        except ValueError as err:
            st.error(f"**{plain(upload.name)}**: {plain(err)}")
            st.session_state.pop(DATA, None)
            st.stop()
    kept = st.session_state.get(DATA)
    if upload is None or kept is None or kept[0] == "demo":
        st.info("No archive yet. Put the photos of each class in a folder named after the "
                "class, zip the folders together and upload the zip (up to 20 MB).")
        st.stop()
    _, photos, split = kept

counts = photos.counts
parts = split.parts()
table = pd.DataFrame({"class": photos.classes, "photos": list(counts.values()),
                      **{name: np.bincount(photos.labels[index], minlength=len(photos.classes))
                         for name, index in parts.items()}})
left, right = st.columns([2, 3])
left.dataframe(table, hide_index=True, width="stretch")
left.caption(f"{len(photos):,} photos in {len(photos.classes)} classes, split "
             + ("the test by photo, validation by region" if source == DEMO
                else "70/15/15 class by class")
             + f": {len(split.train)} to train on, {len(split.validation)} to choose the best "
             f"weights, {len(split.test)} to test once at the end.")
if source == UPLOAD:
    sizes = np.bincount(photos.groups)
    if (sizes > 1).any():
        left.info(f"**{int(sizes[sizes > 1].sum())} photos are near-duplicates** of another "
                  f"photo of their class (re-saved, resized, cropped a little, or burst shots: "
                  f"perceptual hashes at most {HAMMING_THRESHOLD} of 63 bits apart). They were "
                  f"kept together in {int((sizes > 1).sum())} groups, each group in one part "
                  f"of the split, so that no copy of a training photo is tested.")
    else:
        left.caption(f"No near-duplicates found (perceptual hashes more than "
                     f"{HAMMING_THRESHOLD} of 63 bits apart): every photo is split on its own.")
if photos.imbalance() > IMBALANCE:
    left.warning(f"The classes are imbalanced: the largest has {photos.imbalance():.1f} times "
                 f"as many photos as the smallest. Accuracy then flatters the network; read the "
                 f"per-class recall after training, and add photos to the small classes.")
skipped = []
if photos.not_images:
    skipped.append(f"{photos.not_images} files that are not images")
if photos.ignored:
    skipped.append(f"{photos.ignored} system or hidden files and files outside class folders")
if photos.undecodable:
    skipped.append(f"{len(photos.undecodable)} images that could not be decoded")
if skipped:
    left.info("Skipped " + ", ".join(skipped) + ".")
if photos.undecodable:
    with left.expander("Images that could not be decoded"):
        for item in photos.undecodable:
            st.markdown(f"- {plain(item.name)}: {plain(item.reason)}")
with right:
    for c, name in enumerate(photos.classes):
        shown = np.flatnonzero(photos.labels == c)[:6]
        st.image([photos.image(int(i)).resize((96, 96)) for i in shown],
                 caption=[plain(name)] + [""] * (len(shown) - 1))

# ------------------------------------------------------------------ 2. the backbone
st.header("2 · The backbone and the chapter's head")
backbone_name = st.selectbox("Pretrained backbone", transfer.BACKBONES,
                             format_func=BACKBONE_TITLES.get, key="tl_backbone", disabled=busy)
try:
    backbone = models.load_model(backbone_name)
except models.ModelError as err:  # WeightsUnavailableError, for a torchvision backbone offline
    st.error(f"{err}\n\nChoose {BACKBONE_TITLES[models.DEFAULT_MODEL]}, which works offline.")
    st.stop()
n_classes = len(photos.classes)
trainable, total = phase_counts(backbone_name, n_classes)
st.markdown(
    f"Whatever follows the global pooling becomes the chapter's head: **Linear → 256, ReLU, "
    f"Dropout 0.4, Linear → {n_classes}**. The rest keeps its ImageNet weights and is "
    f"unfrozen phase by phase.")
plot(trainable_bars(trainable, total, PHASE_TITLES, viewport.chart_width(page.presenting)))
with st.expander("The chapter's count for ResNet-50, checked"):
    r50, r50_total, original = chapter_check()
    st.markdown(
        f"The chapter prints *Trainable params: ~525K out of 25.6M*. Counted on the real "
        f"ResNet-50 with the six-class head: **{r50['head']:,}** trainable "
        f"(2,048 × 256 + 256 + 256 × 6 + 6), so ~525 K is right. But the network then has "
        f"**{r50_total:,}** parameters, not 25.6 M: 25.6 M ({original:,}) is ResNet-50 with "
        f"its original 1,000-class layer, whose 2,049,000 parameters the head replaces. "
        f"Phase 2 (the last two bottleneck blocks and the head) trains {r50['last_blocks']:,}.")

# ------------------------------------------------------------------ 3. augmentation
st.header("3 · Augmentation")
norm = augment.normalisation(backbone)
# Each switch as wide as its name, in rows that wrap: no name is cut, whatever the width.
switches = st.container(horizontal=True, gap="medium")
enabled = tuple(key for key, line in augment.TRANSFORMS.items()
                if switches.toggle(line.split("(")[0], value=True, key=f"tl_aug_{key}",
                                   help=line, wrap=True))
if norm != augment.CHAPTER:
    st.info(f"**Normalisation.** The chapter ends its pipeline with "
            f"`Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])`, ImageNet's mean and "
            f"standard deviation. {BACKBONE_TITLES[backbone_name]} was trained on "
            f"{norm.source}; with the chapter's numbers its first layer would see inputs with "
            f"about 4.8 times the variance it expects. The page uses the backbone's own.",
            icon=":material/info:")
pick = st.columns([1, 4])
row = pick[0].number_input("Training photo", 0, len(split.train) - 1, 0, key="tl_preview")
original_photo = photos.image(int(split.train[row]))
pick[0].image(augment.centre(original_photo), caption="as the network sees it for testing")
pick[1].image(augment.previews(original_photo, enabled, 12, seed=int(row)), width=110,
              caption=[""] * 12)
pick[1].caption("Twelve random draws of the pipeline with the transforms switched on: what "
                "one photo can look like to the network during training.")

# ------------------------------------------------------------------ 4. training
st.header("4 · Fine-tuning in three phases")
cols = st.columns(3)
chosen, epochs = [], {}
for col, phase, default in zip(cols, transfer.PHASES, Plan().epochs.values()):
    with col:
        on = st.toggle(phase.title, value=True, key=f"tl_on_{phase.key}", disabled=busy,
                       wrap=True)
        epochs[phase.key] = st.number_input(
            "Epochs", 1, 20, default, key=f"tl_epochs_{phase.key}", disabled=busy or not on,
            help=f"The chapter: {phase.epochs}.")
        st.caption(f"Adam, learning rate {phase.learning_rate:g}"
                   + (", cosine annealing to 0" if phase.cosine else "")
                   + f" · {trainable[phase.key]:,} trainable parameters")
        if on:
            chosen.append(phase.key)
options = st.columns(4)
copies = options[0].slider("Augmented copies per photo (phase 1)", 1, 5, 2, key="tl_copies",
                           disabled=busy)
cache = options[1].toggle("Cache the backbone's features (phase 1)", value=True,
                          key="tl_cache", disabled=busy, wrap=True,
                          help="The backbone is frozen in phase 1: compute each augmented "
                               "copy's features once, and the head trains on them without "
                               "running the backbone again.")
batch = options[2].select_slider("Batch size", (8, 16, 32), value=Plan().batch_size,
                                 key="tl_batch", disabled=busy,
                                 help="Phase 3 keeps about 80 MB per photo of a batch for the "
                                      "backward pass: 16 photos need over 2 GB in all.")
minutes = options[3].number_input("Time budget (minutes)", 1, MAX_MINUTES, 10, key="tl_minutes",
                                  disabled=busy,
                                  help="For the whole run: preparing the validation photos, "
                                       "computing features, training and the test (a random "
                                       "sample of the test photos when time is short).")
plan = Plan(tuple(chosen), epochs, enabled, copies, cache, batch, 60.0 * minutes)
st.caption(BATCH_NORM_NOTE)

buttons = st.columns([1, 1, 5])
if buttons[0].button("Start", type="primary", disabled=busy or not chosen,
                     icon=":material/play_arrow:"):
    run = FineTuning(transfer.build(backbone, n_classes), photos, split, norm, plan)
    try:
        run.start(idle_seconds=IDLE_SECONDS,
                  **queue_options(kind="transfer", device=backbone.device))
    except JobLimitError as err:
        st.warning(str(err))
    else:
        session_models.own(run.net, run.job)  # freed, its job stopped, when the session ends
        st.session_state[RUN] = (run, backbone_name)
        st.session_state.pop(RESULT, None)
        st.rerun()
if buttons[1].button("Stop", disabled=not busy, icon=":material/stop:",
                     help="Ends training at the next step and keeps the best weights so far."):
    running[0].job.stop()
buttons[2].caption("Fine-tuning runs in this server's memory: a restart of the server, or "
                   f"leaving this page for {IDLE_SECONDS} s, ends it. A finished model is kept "
                   f"on the server for {kept_models.MAX_AGE_S // 3600} hours for this page's "
                   "link; download it to keep it longer.")


def finish(run: FineTuning, name: str, result) -> None:
    """Keep the result, offer the model to the other pages, add a row to the stretch table."""
    what = f"fine-tuned on {len(run.split.train)} photos"
    bundle = fine_tuned.as_bundle(result.net, models.load_model(name), run.photos.classes, what)
    st.session_state[RESULT] = (name, run.photos.classes, result, bundle)
    register(bundle, keep=lambda: fine_tuned.save(result.net, name, run.photos.classes))
    if result.evaluation is not None:
        st.session_state.setdefault(TRIED, []).append({
            "backbone": BACKBONE_TITLES[name], "data": run.photos.source,
            "phases": ", ".join(str(i + 1) for i, p in enumerate(transfer.PHASES)
                                if p.key in run.plan.phases),
            "test accuracy": result.evaluation.accuracy,
            "ms per image": result.evaluation.ms_per_image,
            "training s": sum(r.seconds + r.feature_seconds for r in result.reports)})


def run_progress(progress, snap) -> None:
    """The part of the run going on, how far it is, and the time it still needs at the rate
    measured in it (or its place in the queue while it waits for a turn); then why the job
    ended, if it was stopped or failed."""
    waiting = queue_text(snap)
    if waiting is not None:
        st.progress(progress.fraction if progress.part else 0.0, text=waiting)
    elif not progress.part:
        st.progress(0.0, text="Starting…")
    else:
        left = progress.seconds_left
        st.progress(progress.fraction, text=(
            f"Part {progress.part} of {progress.parts}: {progress.title} · "
            f"{progress.done:,} of {progress.total:,} {progress.unit}"
            + (f" · {progress.detail}" if progress.detail else "")
            + (f" · about {fmt_number(left, 0)} s left in this part" if left is not None
               and not snap.done else "")))
        st.caption(f"{fmt_number(snap.seconds, 0)} s of the "
                   f"{fmt_number(snap.max_seconds - GRACE_SECONDS, 0)} s budget used.")
    if snap.done and snap.result is not None and snap.result.net is None:
        st.warning("The run ended before its first validation, so there is no model to "
                   "keep: start again with a longer time budget.")
    else:
        job_messages(snap)


@st.fragment(run_every=1.0 if busy else None)
def live() -> None:
    if RUN not in st.session_state:
        st.caption("Press Start: progress and the learning curves appear here.")
        return
    current, name = st.session_state[RUN]
    snap = current.job.poll()
    run_progress(current.progress(), snap)
    plot(phase_curves(snap.steps, snap.epochs, TITLES, current.total_steps(),
                      stacked=viewport.narrow()), key="tl_curves")
    if snap.done and (st.session_state.get(RESULT) or (None,) * 4)[2] is not snap.result:
        if snap.result is not None and snap.result.net is not None:
            finish(current, name, snap.result)
            st.rerun()  # once: the results below, the buttons enabled
        elif busy:
            st.rerun()


live()
waiting = {label: kept for label, kept in session_models.session_bundles().items()
           if isinstance(kept, kept_models.Kept)}
if waiting:  # kept on disk for this link, not loaded in this session (a restart, a new visit)
    st.info("Kept on this server for this page's link: " + "; ".join(
        f"{plain(label)} (fine-tuned at {session_models.kept_time(kept)})"
        for label, kept in waiting.items()) + ". Pick it in the model list of the Grad-CAM "
            "or Feature maps page; it loads from disk.", icon=":material/inventory_2:")
with st.expander("Upload a model fine-tuned here before"):
    model_file = st.file_uploader("A .pt file from this page's download button", type=["pt"],
                                  key="tl_model_file")
    if model_file is not None and st.session_state.get("_tl_model_file") != model_file.file_id:
        try:
            label = register(fine_tuned.load(model_file.getvalue(), model_file.name))
        except fine_tuned.CheckpointError as err:
            st.error(plain(err))
        else:
            st.session_state._tl_model_file = model_file.file_id
            st.success(f"“{plain(label)}” is now in the model list of the Grad-CAM and "
                       f"Feature maps pages.")
kept_result = st.session_state.get(RESULT)
if kept_result is None or kept_result[1] != photos.classes:
    st.stop()

# ------------------------------------------------------------------ 5. results
trained_on, classes, result, bundle = kept_result
evaluation = result.evaluation
st.header("5 · What the network learnt")
st.caption(f"{BACKBONE_TITLES[trained_on]}, best validation accuracy "
           f"{result.best_val_accuracy:.1%} ({result.best_at}); those weights are kept.")
speeds = pd.DataFrame([row for r in result.reports for row in (
    [{"part": f"{PHASE_TITLES[r.key]} — computing features", "images/s":
      r.feature_images / r.feature_seconds, "seconds": r.feature_seconds, "ended": "finished"}]
    if r.feature_seconds else []) + [
    {"part": f"{PHASE_TITLES[r.key]} — training", "images/s": r.images_per_second,
     "seconds": r.seconds, "ended": r.ended}]])
st.dataframe(speeds, hide_index=True, column_config={
    name: st.column_config.NumberColumn(format="%.1f") for name in ("images/s", "seconds")})
results, gallery, doubt, stretch, keep = st.tabs(
    ["Accuracy", "Grad-CAM per class", "Uncertainty", "Backbones compared", "Keep the model"])

with results:
    chance = 1 / len(classes)
    st.metric("Test accuracy", f"{evaluation.accuracy:.1%}",
              delta=f"{100 * (evaluation.accuracy - chance):+.1f} points against chance "
                    f"({chance:.0%})".replace("-", "−"),
              help=f"On {len(evaluation.labels)} test photos the network never trained on"
                   + (", from photos none of its training or validation patches came from"
                      if photos.source == "the texture demo" else "")
                   + ". Guessing would get one in " + f"{len(classes)}.")
    if evaluation.sampled:
        st.warning(f"The time budget ran short: tested on a random sample of "
                   f"{len(evaluation.labels)} of the {evaluation.planned} test photos (each "
                   f"class in its share), so this accuracy is less certain.")
    per_class = pd.DataFrame({"class": classes, "precision": evaluation.precision,
                              "recall": evaluation.recall,
                              "test photos": np.bincount(evaluation.labels, minlength=len(classes))})
    st.dataframe(per_class, hide_index=True,
                 column_config={k: st.column_config.NumberColumn(format="percent")
                                for k in ("precision", "recall")})
    matrix = evaluation.confusion
    left, right = st.columns(2)
    with left:
        plot(curves.confusion_figure(matrix, classes, normalised=False))
    with right:
        plot(curves.confusion_figure(row_normalised(matrix), classes, normalised=True))
    pairs = evaluation.confused_pairs()
    if pairs:
        st.markdown("**Most confused:** " + "; ".join(
            f"{plain(true)} taken for {plain(answer)} ({n}×)"
            for true, answer, n in pairs[:3]) + ".")
    else:
        st.success("No test photo was confused with another class.")

with gallery:
    maps = cached.transfer_gallery(bundle, photos, evaluation)
    layers = {m.layer for kinds in maps.values() for items in kinds.values()
              for _, top, _ in items for m in (top,)}
    st.caption(f"Grad-CAM at layer {', '.join(sorted(layers))} for up to two right (✓) and two "
               f"wrong (✗) test photos per class, the chapter's exercise: each photo with the "
               f"map of its **top class** beside the map of **a wrong class** (the true class "
               f"when the answer is wrong, else the runner-up). Bright where the evidence for "
               f"that class lies; where the two maps differ is what tells the classes apart.")
    for name, kinds in maps.items():
        st.markdown(f"**{plain(name)}**")
        shown, captions = [], []
        for kind, items in kinds.items():
            for row_index, top, other in items:
                view = np.asarray(augment.centre(photos.image(int(evaluation.index[row_index]))))
                mark = "✓" if kind == "correct" else "✗"
                shown += [colours.cam_overlay(view, top.heatmap),
                          colours.cam_overlay(view, other.heatmap)]
                captions += [f"{mark} top: {plain(top.category)} {top.probability:.0%}",
                             f"{plain(other.category)} {other.probability:.0%}"
                             + (" (true)" if kind == "wrong" else " (wrong)")]
        if shown:
            st.image(shown, width=150, caption=captions)
        else:
            st.caption("No test photos.")

with doubt:
    spread = 100 * evaluation.answer_spread
    st.caption(f"MC dropout: the head's dropout stays on and each test photo goes through it "
               f"{MC_PASSES} times. The spread "
               f"(standard deviation) of the answer's probability over the passes says how "
               f"sure the network is. Over the {len(spread)} test photos it is "
               f"{fmt_number(float(np.median(spread)), 1)} percentage points at the median and "
               f"{fmt_number(float(spread.max()), 1)} at most; below, the most uncertain.")
    if spread.max() < 0.5:
        st.info("Every test photo got the same answer in every pass, with a spread under half "
                "a percentage point: dropout in the head barely moves this network's answers, "
                "so MC dropout shows no doubt here. The confusion matrix says where it errs.")
    cells = st.columns(6)
    for cell, row_index in zip(cells, evaluation.most_uncertain(6)):
        answer = int(evaluation.mc_mean[row_index].argmax())
        cell.image(augment.centre(photos.image(int(evaluation.index[row_index]))))
        cell.caption(f"**{plain(classes[answer])}** "
                     f"{fmt_number(100 * evaluation.mc_mean[row_index, answer], 0)}"
                     f" ± {fmt_number(100 * evaluation.mc_std[row_index, answer], 1)} % · true: "
                     f"{plain(classes[evaluation.labels[row_index]])}")

with stretch:
    st.caption("The stretch goal: each backbone you trained in this session, its test accuracy "
               "and the time one photo takes through it here (batch of one, median).")
    st.dataframe(pd.DataFrame(st.session_state.get(TRIED, [])), hide_index=True,
                 column_config={"test accuracy": st.column_config.NumberColumn(format="percent"),
                                "ms per image": st.column_config.NumberColumn(format="%.1f"),
                                "training s": st.column_config.NumberColumn(format="%.0f")})

with keep:
    st.markdown(f"The fine-tuned network is now in the model list of the **Grad-CAM** and "
                f"**Feature maps** pages as “{plain(bundle.label)}”. It is kept on this server "
                f"for {kept_models.MAX_AGE_S // 3600} hours for this page's link (`keep=…` in "
                f"the address): after a restart of the server, open the link again and pick it "
                f"in the model list.")
    st.page_link("views/grad_cam.py", label="Open Grad-CAM", icon=":material/center_focus_strong:")
    st.download_button("Download the model (state dict with class names)",
                       lambda: fine_tuned.save(result.net, trained_on, classes),
                       file_name=f"{trained_on}-fine-tuned.pt", on_click="ignore",
                       icon=":material/download:")  # saved on click, not on every rerun
