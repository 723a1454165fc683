"""What layers learn: feature visualisation by optimisation with its dataset examples, the
default model's hierarchy precomputed, and the first layer's kernels beside classic filters."""

import numpy as np
import streamlit as st

from cnnviz import activations, insight, models, ops
from cnnviz.figures import insight as figures
from cnnviz.figures.style import fmt_number
from cnnviz.insight import hierarchy
from cnnviz.ops import filtering
from cnnviz.train.jobs import Job, JobLimitError
from cnnviz.train.transfer import image_folders
from cnnviz.ui import presentation, url_state
from cnnviz.ui.cached import WORKERS
from cnnviz.ui.pickers import image_picker, layer_picker, model_picker

JOB = "feature_vis_job"  # (job, cache key) of this session's optimisation
KEPT = 256  # finished images kept for every session (about 50 kB each at 128 px)
# What the shipped images of each stage show (assets/feature_hierarchy/, looked at, not
# assumed): the words change when the images do.
SEEN = {
    "stem": "colour fields and hard edges; channel 16 stays grey: it fires on no photo, and "
            "the ascent cannot wake it",
    "stage 1": "oriented edges and small coloured blobs, repeated everywhere",
    "stage 2": "stripes of one orientation and fine checks: textures of a few pixels",
    "stage 3": "waves, crossings and scale-like weaves: coarser textures",
    "stage 4": "weaves that bend into arcs and loops",
    "stage 5": "repeated shapes: rounded cells, spirals, eye-like dots",
    "stage 6": "parts: eyes, fur- and scale-like patches, bulging forms",
    "stage 7": "animal-like parts in a jumble (eyes, fur, snouts), no whole object",
    "head": "faces and bodies of animals, fur and eyes blended over the whole image",
}
STEPS = (64, 128, 256, 512)
SIZES = (96, 128, 160)

page = presentation.page_header(
    "What layers learn",
    "What makes a channel fire? Two answers, as Olah, Mordvintsev & Schubert give them "
    "(*Feature Visualization*, Distill, 2017): an image **made** to excite the channel, by "
    "gradient ascent from noise, and the **patches of real photos** that excite it most. "
    "Below them, the default network's stages side by side, and its first layer's kernels "
    "beside the hand-made filters of image processing.")


@st.cache_resource(show_spinner=False)
def _visualisations() -> dict:
    """Finished visualisations of every session, by model, layer, channel and settings."""
    return {}


def model_identity(bundle) -> tuple:
    """A zoo model's results are the same in every session and process (untrained ones are
    seeded); a session's own model is itself alone."""
    if bundle.name in models.available_models():
        return bundle.name, bundle.weights
    return activations.model_key(bundle)


@st.cache_resource(show_spinner="Reading the precomputed hierarchy…")
def shipped_hierarchy():
    try:
        return hierarchy.load()
    except FileNotFoundError:
        return None


def precomputed(bundle, layer: str, channel: int, settings) -> np.ndarray | None:
    shipped = shipped_hierarchy()
    if (shipped is None or bundle.name != shipped["model"] or bundle.weights != shipped["weights"]
            or settings.__dict__ != shipped["settings"]):
        return None
    for row in shipped["stages"]:
        for entry in row["channels"]:
            if row["layer"] == layer and entry["channel"] == channel:
                return entry["image"]
    return None


# ---- one channel ---------------------------------------------------------------------------
controls, main = page.split((1, 2))
with controls:
    bundle = model_picker()
    stages = activations.stage_ends(bundle)
    layer = layer_picker(bundle, "layer", stages[len(stages) // 2][1].name)
    count = {info.name: info.shape[0] for info in activations.layers(bundle)}[layer]
    url_state.number("channel", 0, 0, 4095)
    if st.session_state.channel >= count:
        st.session_state.channel = 0
    channel = st.number_input(f"Channel (0 to {count - 1})", 0, count - 1, key="channel")
    url_state.publish("channel")
    url_state.choice("vis_steps", STEPS, 256)
    steps = st.select_slider("Steps", STEPS, key="vis_steps")
    url_state.choice("vis_size", SIZES, 128)
    size = st.select_slider("Image side (pixels)", SIZES, key="vis_size")
settings = insight.Settings(size=size, steps=steps)
key = (model_identity(bundle), layer, channel, settings.key())
done = _visualisations().get(key)
if done is None:
    shipped = precomputed(bundle, layer, channel, settings)
    if shipped is not None:
        done = ("precomputed", shipped, None)

with main:
    st.subheader(f"{activations.layer_titles(bundle)[layer]} · channel {channel}")
    job_and_key = st.session_state.get(JOB)
    running = job_and_key is not None and not job_and_key[0].poll().done
    start, stop = st.columns(2)
    if start.button("Make its image", type="primary", disabled=running or done is not None,
                    key="vis_start"):
        def work(job: Job, bundle=bundle, layer=layer, channel=channel, settings=settings):
            def heard(step, total, value, preview):
                job.on_step(dict(step=step, total_steps=total, value=value, preview=preview))
            return insight.optimise(bundle, layer, channel, settings, on_step=heard,
                                    should_stop=job.should_stop)
        try:
            st.session_state[JOB] = (Job(work, max_seconds=300, idle_seconds=30,
                                         name="cnnviz-feature-vis").start(), key)
        except JobLimitError as err:
            st.warning(str(err))
        else:
            st.rerun()
    if stop.button("Stop", disabled=not running, key="vis_stop"):
        job_and_key[0].stop()

    @st.fragment(run_every=1.0 if running else None)
    def progress() -> None:
        held = st.session_state.get(JOB)
        if held is None or held[1] != key:
            return
        job, _ = held
        snap = job.poll()
        last = snap.latest
        previews = [s["preview"] for s in snap.steps if s["preview"] is not None]
        if not snap.done:
            st.progress(snap.fraction, text=(f"Step {last['step']} of {last['total_steps']} · "
                                             f"objective {fmt_number(last['value'], 2)}"
                                             if last else "Starting…"))
            if previews:
                st.image(previews[-1], width=256, caption="So far")
        elif snap.error:
            st.error(f"The optimisation failed: {snap.error.strip().splitlines()[-1]}")
        elif snap.result is not None:
            result = snap.result
            if result.steps == settings.steps:
                kept = _visualisations()
                kept[key] = ("made", result.image, result)
                while len(kept) > KEPT:  # the oldest first
                    kept.pop(next(iter(kept)))
            else:
                st.info(f"Stopped after {result.steps} of {settings.steps} steps: the image "
                        f"so far, not kept for others.")
                st.image(result.image, width=256)
        if snap.done and running:
            st.rerun()

    progress()
    if done is not None:
        how, picture, result = done
        st.image(picture, width=256 if not page.presenting else 300,
                 caption="Made to excite this channel" + (
                     " (precomputed, `python -m cnnviz.insight --rebuild`)"
                     if how == "precomputed" else f" in {fmt_number(result.seconds, 1)} s"))
    elif not running:
        st.caption(f"{settings.steps} steps of gradient ascent on a {settings.size}-pixel image; "
                   f"on a laptop CPU some seconds to a minute. A finished image is kept for "
                   f"every student who asks for the same channel.")

# ---- dataset examples ------------------------------------------------------------------------
st.subheader("The patches of real photos that excite it most")
upload = st.file_uploader("Add your own photos (a .zip, as on the Transfer learning page)",
                          type=["zip"], key="examples_zip")
photos = insight.photos_at_hand()
if upload is not None:
    try:
        mine = image_folders.read_image_folders(upload.getvalue(), min_per_class=1)
    except image_folders.DatasetError as err:
        st.error(f"**{upload.name}**: {err}")
    else:
        photos |= {f"{mine.classes[label]} #{i + 1}": mine.image(i)
                   for i, label in enumerate(mine.labels[:48])}


@st.cache_data(max_entries=16, show_spinner="Finding the strongest positions…")
def _examples(_bundle, _photos, model_key, photo_keys, layer, channel):
    return WORKERS.run(insight.top_examples, _bundle, layer, channel, _photos)


found = _examples(bundle, photos, activations.model_key(bundle),
                  tuple(activations.image_key(img) for img in photos.values()), layer, channel)
columns = st.columns(4)
for k, example in enumerate(found):
    seen = activations.network_input(bundle, photos[example.photo])
    columns[k % 4].image(figures.with_window(seen, example.window), width="stretch",
                         caption=f"{example.photo}: {fmt_number(example.value, 2)} at row "
                                 f"{example.position[0]}, column {example.position[1]}")
field = insight.receptive_fields(bundle).get(layer)
st.caption(f"Outlined: the receptive field of each position, {field[0].size} × "
           f"{field[1].size} pixels, one position every {field[0].jump} pixels (the chapter's "
           f"recurrence run through {bundle.label}), cut by the photo's edge."
           if field else "This layer's positions each see the whole photo.")

# ---- the hierarchy ---------------------------------------------------------------------------
st.header("Stage by stage: the default network")
shipped = shipped_hierarchy()
if shipped is None:
    st.info("The precomputed images are missing: `python -m cnnviz.insight --rebuild` makes "
            "them.")
else:
    for row in shipped["stages"]:
        ratios = [e["activation"] / e["photo_best"] for e in row["channels"]
                  if e["photo_best"] > 0]
        st.markdown(f"**{row['stage']}** · {SEEN.get(row['stage'], '')} · image ÷ best "
                    f"photo: " + (", ".join(f"{r:.1f}×" for r in ratios) or "—"))
        for column, entry in zip(st.columns(len(row["channels"])), row["channels"]):
            column.image(entry["image"], width="stretch", caption=f"channel {entry['channel']}")
    settings_text = ", ".join(f"{k} {v}" for k, v in shipped["settings"].items())
    st.caption(
        f"{shipped['model']} ({shipped['weights']}); channels 0, C/4, C/2 and 3C/4 of each "
        f"stage, where the stage ends; {settings_text}; made {shipped['made']} with torch "
        f"{shipped['torch']}. Ratios: the channel's mean activation on its image over its "
        f"highest mean on the eight sample photos (left out where the photos' best is not "
        f"positive). The words say what these images show, as seen when they were made; "
        f"rebuilt with other settings, look again.")


# ---- classic and learned filters -------------------------------------------------------------
st.header("Classic filters and learned ones")
with page.controls():
    img = image_picker()
name, weights = activations.first_filters(bundle)
size = weights.shape[-1]


@st.cache_data(max_entries=8, show_spinner="Matching every kernel to the Gabor bank…")
def _matches(model_key, _weights):
    return insight.match_first_layer(_weights), insight.chance_correlation(_weights.shape[-1])


matches, chance = _matches(activations.model_key(bundle), weights)
correlations = [m.correlation for m in matches]
st.markdown(
    f"`{name}` of {bundle.label}: {len(weights)} kernels of {size} × {size}. Each is matched "
    f"to the best of 384 Gabor filters (12 orientations, 8 wavelengths, 4 phases, made by "
    f"`cv2.getGaborKernel`): median correlation **{np.median(correlations):.2f}**. Random "
    f"kernels of this size reach **{chance:.2f}** against the same bank"
    + (", so here a match says little: a few numbers fit some Gabor anyway."
       if np.median(correlations) < chance + 0.1 else
       ": the learned kernels are more Gabor-like than chance."))
shown = min(len(weights), 16)
for start in range(0, shown, 8):
    columns = st.columns(8)
    for k in range(start, min(start + 8, shown)):
        m = matches[k]
        columns[k - start].image([figures.kernel_picture(weights[k]),
                                  figures.kernel_picture(m.kernel)], width=48,
                                 caption=[f"#{k}", f"{m.orientation}°, λ "
                                          f"{fmt_number(m.wavelength, 1)}, r "
                                          f"{m.correlation:.2f}"])
if img is not None:
    url_state.number("learned_kernel", 0, 0, 4095)
    if st.session_state.learned_kernel >= len(weights):
        st.session_state.learned_kernel = 0
    k = st.number_input(f"Kernel to apply (0 to {len(weights) - 1})", 0, len(weights) - 1,
                        key="learned_kernel")
    url_state.publish("learned_kernel")
    seen = activations.network_input(bundle, img)
    grey = seen.astype(np.float64) @ insight.filters.LUMA
    # The layer's own sum over the three colours, on the photo normalised as the network reads
    # it, by the NumPy engine (stride 1, so the response is as sharp as the photo).
    learned = ops.conv2d(bundle.preprocess(img).numpy()[None], weights[k][None],
                         padding="same")[0, 0]
    gabor = insight.filter_photo(grey, matches[k].kernel)
    classic = insight.classic_kernels(max(size, 3))
    a, b, c, d = st.columns(4)
    a.image(seen, caption="The photo as the network sees it", width="stretch")
    b.image(filtering.to_picture(learned[None]), width="stretch",
            caption=f"Learned kernel #{k} (all three colours)")
    c.image(filtering.to_picture(gabor[None]), width="stretch",
            caption=f"Its Gabor ({matches[k].orientation}°, r {matches[k].correlation:.2f})")
    d.image(filtering.to_picture(insight.filter_photo(grey, classic["Sobel x (vertical edges)"])
                                 [None]), width="stretch", caption="Sobel x (OpenCV)")
    columns = st.columns(len(classic))
    for column, (title, kernel) in zip(columns, classic.items()):
        column.image(figures.kernel_picture(kernel), width=64, caption=title)
