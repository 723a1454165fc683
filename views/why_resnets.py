"""Why ResNets work: two separate questions, measured on He et al.'s CIFAR networks. Where do
gradients vanish at initialisation? And degradation: does a deeper plain network train worse
(an optimisation difficulty, which He et al. found where gradients do not vanish)?"""

import pandas as pd
import streamlit as st

from cnnviz.figures import depth as figures
from cnnviz.figures.depth import FLOAT32_SMALLEST, sci
from cnnviz.figures.style import fmt_number
from cnnviz.train.depth import degradation, flow_table, verdict
from cnnviz.train.depth.cifar_net import (
    DEPTHS,
    PAPER_PARAMETERS,
    parameter_count,
)
from cnnviz.train.depth.images32 import images32
from cnnviz.train.jobs import JobLimitError
from cnnviz.ui import presentation, url_state, viewport
from cnnviz.ui.charts import plot
from cnnviz.ui.training import (DATA_CHOICES, data_or_fallback, load_split, queue_options,
                                queue_text)

JOB = "why_resnets_job"  # the live run (a cnnviz.train.jobs.Job) and its setting
LIVE_IMAGES = (1000, 3500, 10000)  # training images of a live run (the first of the split)
LIVE_VALIDATION = 500

page = presentation.page_header(
    "Why ResNets work",
    "Two questions that are easy to mix up, measured on He et al.'s CIFAR networks (plain and "
    "residual, 6n+2 layers) and real handwritten digits. **Vanishing gradients:** does the "
    "gradient reaching the first blocks shrink to nothing? Without batch norm with sigmoid it "
    "does; with batch norm and ReLU it grows instead. **Degradation:** does a deeper plain "
    "network end with a *higher training loss* than a shallower one? He et al. found it with "
    "batch norm and ReLU, where the gradients do not vanish, and called it an optimisation "
    "difficulty.")


@st.cache_resource(show_spinner=False, max_entries=2)
def prepared(name: str):
    """A data set padded to 32×32 for the networks, shared by every session."""
    return images32(load_split(name))


@st.cache_data(show_spinner="Measuring the gradients of both networks on a real batch…",
               max_entries=48)
def flows(depth: int, batch_norm: bool, activation: str, shortcut: str) -> tuple[dict, dict]:
    """From the precomputed table (instant), or measured when it lacks the setting."""
    return flow_table.flows(depth, batch_norm, activation, shortcut)


@st.cache_data(show_spinner=False)
def shipped() -> dict:
    return degradation.load()


@st.cache_resource(show_spinner=False)
def shipped_figures(k: int, width_px: float) -> tuple:
    """Setting ``k`` of the shipped runs drawn once per server and width: its training curves,
    and its deep networks' gradients during training."""
    record = shipped()["settings"][k]
    s = record["setting"]
    shallow, deep = s["depths"]
    return (figures.training_curves(record["runs"], f"{s['label'][0].upper()}{s['label'][1:]}: "
                                                    f"{shallow} against {deep} layers",
                                     width_px=width_px),
            figures.checkpoint_gradients(record["runs"], width_px=width_px))


def width() -> float:
    """About how wide a full-width figure is drawn, in pixels (its titles wrap to it)."""
    return viewport.chart_width(page.presenting)


def minutes(seconds: float) -> str:
    whole = round(seconds / 60)
    return "under a minute" if whole < 1 else f"{whole:,} minute{'s' if whole != 1 else ''}"


def ratio(a: float, b: float) -> str:
    """a ÷ b as a gradient ratio in words; a gradient of 0 is said so, never divided."""
    if a == 0:
        return "0 (vanished)"
    return sci(a / b) if b else "undefined"


def change(first: float, last: float) -> str:
    """How the gradient changed from the last block back to the first."""
    if first < FLOAT32_SMALLEST:
        return (f"vanishes: {sci(first)} at the first block, below float32's smallest number "
                "(0 in training)")
    r = first / last
    return f"grows {sci(r)}×" if r >= 1 else f"shrinks {sci(1 / r)}×"


# ---- the networks ----------------------------------------------------------------------------
st.header("The networks")
url_state.bind("depth", 56, allowed=DEPTHS)
url_state.bind("batch_norm", True)
url_state.bind("activation", "ReLU", allowed=("ReLU", "sigmoid"))
url_state.bind("shortcut", "A", allowed=("A", "B"))
controls = page.controls()
controls.select_slider("Depth (6n+2 layers)", DEPTHS, key="depth")
c2, c3, c4 = controls.columns(3)
c2.toggle("Batch norm", key="batch_norm")
c3.segmented_control("Activation", ["ReLU", "sigmoid"], key="activation", required=True)
c4.segmented_control("Shortcut", ["A", "B"], key="shortcut", required=True,
                     help="A: identity, zero-padded where the shape changes (no parameters). "
                          "B: a 1×1 convolution where the shape changes.")
url_state.publish("depth", "batch_norm", "activation", "shortcut")
depth, batch_norm = st.session_state["depth"], st.session_state["batch_norm"]
activation, shortcut = st.session_state["activation"].lower(), st.session_state["shortcut"]
options = dict(batch_norm=batch_norm, shortcut=shortcut)

plain, residual = flows(depth, batch_norm, activation, shortcut)
rows = []
for record in (plain, residual):
    parts = parameter_count(depth, record["residual"], in_channels=1, **options)
    published = (PAPER_PARAMETERS.get(depth)
                 if record["residual"] and batch_norm and shortcut == "A" else None)
    rows.append({
        "Network": degradation.run_label(depth, record["residual"]),
        "Weighted layers": record["layers"], "Parameters (counted by torch)": record["params"],
        "3×3 convolutions": parts["conv3x3"], "Batch norm": parts["batch_norm"],
        "1×1 projections": parts["projection"], "Classifier": parts["fully_connected"],
        "He et al. (2015), Table 6": published or "",
    })
counts = ("Parameters (counted by torch)", "3×3 convolutions", "Batch norm", "1×1 projections",
          "Classifier")
st.dataframe(pd.DataFrame(rows), hide_index=True, key="networks", column_config={
    c: st.column_config.NumberColumn(format="localized") for c in counts})
n = (depth - 2) // 6
st.caption(
    f"{depth} = 6·{n} + 2: one 3×3 convolution, three stages of {n} blocks of two 3×3 "
    "convolutions on 32×32, 16×16 and 8×8 maps with 16, 32 and 64 channels, global average "
    "pooling and a 10-way classifier. The parts are worked out by hand (9·c_in·c_out per "
    "convolution, 2 per channel for batch norm) and equal torch's count. Digits are padded "
    "from 28×28 to 32×32 and have one channel; the paper's CIFAR images have three, which adds "
    "2 × 9 × 16 = 288 weights to the first convolution (too few to change its rounded "
    "figures).")

# ---- vanishing gradients ----------------------------------------------------------------------
st.header("Vanishing gradients: where they do vanish")
left, right = st.columns([3, 2])
with left:
    # the left of two columns, which a phone stacks: there it has the whole width
    flow_width = width() * (1 if viewport.narrow() else 0.6)
    plot(figures.gradient_flow(plain, residual, depth, width_px=flow_width), width="stretch",
         key="flow")
norms = plain["input_norms"]
# from block ``alive`` on (towards the output) the gradient is within float32's range
alive = next(i for i, v in enumerate(norms) if v >= FLOAT32_SMALLEST)
vanished = alive > 0
factors = [a / b for a, b in zip(norms[alive:], norms[alive + 1:])]
blocks = len(norms) - 1
with right:
    st.markdown(f"**Measured on {flow_table.PROBE_SIZE} training digits**, cross-entropy loss, "
                "batch statistics (as in training), same initial seed for both networks, "
                "computed in float64, so that a gradient below float32's range (which ends at "
                "1.4 × 10⁻⁴⁵) still has a value. Deep ReLU networks with batch norm amplify the "
                "last bits of their inputs and weights: on another CPU's kernels plain-110's norms "
                "moved by up to 19 %, plain-20's by 0.3 %, the sigmoid networks' by under 10⁻⁵.")
# measured with bench/float_spread.py: AVX-512 against ATEN_CPU_CAPABILITY=default
    st.markdown("**Plain:** the gradient at the first block is the output's gradient times one "
                "factor per block,")
    st.latex(r"\Big\|\frac{\partial L}{\partial x_1}\Big\| = \Big\|\frac{\partial L}{\partial "
             r"x_L}\Big\| \prod_{l=1}^{L-1} \frac{\|\partial L/\partial x_l\|}"
             r"{\|\partial L/\partial x_{l+1}\|}")
    if vanished:
        st.markdown(
            f"From the output ({sci(norms[-1])}) back to block {alive + 1} "
            f"({sci(norms[alive])}) the factors multiply to {sci(norms[alive] / norms[-1])}; at "
            f"block {alive} and below the gradient's norm (down to {sci(norms[0])} at the first "
            f"block) is below float32's smallest positive number, {sci(FLOAT32_SMALLEST)}, and "
            "so is every entry of it: **in float32, as the network trains, it is exactly 0: it "
            f"vanished**. The first {alive} block{'s' if alive != 1 else ''} of the plain "
            "network get no gradient at all and cannot learn.")
    else:
        shown = " × ".join(fmt_number(f, 2) for f in factors[:3]) + " × … × " + fmt_number(
            factors[-1], 2)
        product = norms[0] / norms[-1]
        st.markdown(
            f"= {sci(norms[-1])} × ({shown}) = {sci(norms[-1])} × {sci(product)} = "
            f"**{sci(norms[0])}**: {blocks} factors, geometric mean "
            f"{fmt_number(product ** (1 / blocks), 3)}.")
    st.markdown("**Residual:** the chapter's expansion keeps a term that skips every F,")
    st.latex(r"\frac{\partial L}{\partial x_l} = \frac{\partial L}{\partial x_L}\Big(1 + "
             r"\frac{\partial}{\partial x_l}\sum_{i=l}^{L-1} F(x_i)\Big)")
    highway, rest = residual["highway_norms"][0], residual["rest_norms"][0]
    st.markdown(
        f"Measured at the first block: ‖“1” term‖ = {sci(highway)}, ‖the Σ F term‖ = "
        f"{sci(rest)}, together ‖∂L/∂x₁‖ = **{sci(residual['input_norms'][0])}** "
        f"(output: {sci(residual['input_norms'][-1])}). The “1” is the identity only where "
        f"the activation after each addition lets the gradient through, and option A's "
        f"stride-2 shortcuts pass a quarter of the pixels: here it keeps "
        f"{fmt_number(100 * highway / residual['input_norms'][-1], 1)} % of the output's "
        "gradient norm.")
    st.markdown(f"First block ÷ last block: plain **{ratio(norms[0], norms[-2])}**, residual "
                f"**{ratio(residual['input_norms'][0], residual['input_norms'][-2])}**.")
with st.expander("The gradient of each layer's weights"):
    plot(figures.weight_gradients(plain, residual, depth, width_px=width()), width="stretch",
         key="weights")

overview = []
for bn in (True, False):
    for act in ("relu", "sigmoid"):
        p, r = flows(depth, bn, act, shortcut)
        overview.append({"Batch norm": "yes" if bn else "no",
                         "Activation": "ReLU" if act == "relu" else "sigmoid",
                         f"plain-{depth}": change(p["input_norms"][0], p["input_norms"][-2]),
                         f"ResNet-{depth}": change(r["input_norms"][0], r["input_norms"][-2])})
st.markdown(f"**From the last block back to the first, at depth {depth}**, in all four "
            "settings (measured the same way):")
st.dataframe(pd.DataFrame(overview), hide_index=True, key="overview")
default_plain = flows(56, True, "relu", "A")[0]["input_norms"]
sigmoid_plain, sigmoid_residual = (r["input_norms"] for r in flows(depth, False, "sigmoid",
                                                                   shortcut))
st.caption(
    "The gradient vanishes where the per-block factors stay below 1: sigmoid's derivative is at "
    "most ¼, and without batch norm nothing rescales the signal. Shortcuts slow the fall but do "
    "not stop it: the sigmoid after each addition multiplies the shortcut's gradient too "
    f"(without batch norm with sigmoid, plain-{depth} "
    f"{change(sigmoid_plain[0], sigmoid_plain[-2])}, ResNet-{depth} "
    f"{change(sigmoid_residual[0], sigmoid_residual[-2])}). With batch norm and ReLU the "
    "gradient tends to *grow* towards the input instead (Yang et "
    "al., 2019, “A Mean Field Theory of Batch Normalization”): plain-56 with batch norm and "
    f"ReLU, the page's default, {change(default_plain[0], default_plain[-2])}. Switch the "
    "settings above and watch.")

# ---- degradation ------------------------------------------------------------------------------
st.header("Degradation: an optimisation difficulty")
st.markdown(
    "He et al. (2015, §4.1) trained their plain networks *with* batch norm, checked that the "
    "gradients kept healthy norms, and still found the 34-layer network ending with a higher "
    "training error than the 18-layer one: a degradation they judged “unlikely to be caused by "
    "vanishing gradients”, and more likely an optimisation difficulty (a deep plain network may "
    "simply converge far more slowly). The measurement above agrees: with batch norm the plain "
    "network's gradient does not vanish. Below, the same comparison on the digits: a shallow and "
    "a deep network of each kind, trained alike.")
try:
    results = shipped()
except (FileNotFoundError, ValueError) as err:
    st.error(f"The precomputed training runs could not be read: {err}")
    results = None


def details(record: dict) -> str:
    s = record["setting"]
    seeds = ", ".join(map(str, s["seeds"]))
    return (f"{record['train_size']:,} training and {record['validation_size']:,} validation "
            f"images; {s['epochs']} epochs of batches of {s['batch_size']} (each seed draws the "
            f"initial weights and the batch order, the same for all four networks); SGD, "
            f"learning rate {s['lr']} (rising linearly to it over the first {s['warmup_steps']} "
            f"steps, then held), momentum {s['momentum']}, weight decay {s['weight_decay']}; "
            f"seed{'s' if len(s['seeds']) != 1 else ''} {seeds}; "
            f"{minutes(record['train_seconds'])} of training for the {len(record['runs'])} runs.")


def show(k: int) -> dict:
    """Setting ``k`` of the shipped runs: its curves and what each pair shows."""
    record = results["settings"][k]
    plot(shipped_figures(k, width())[0], width="stretch", key=f"curves_{k}")
    for found in verdict.verdict(record).values():
        st.markdown(f"**{found.shallow} against {found.deep}.** "
                    + verdict.sentence(found, record))
    st.caption(details(record))
    return record


if results is not None:
    env = results["environment"]
    bn_k, no_bn_k = (next(k for k, r in enumerate(results["settings"])
                          if r["setting"]["batch_norm"] is bn) for bn in (True, False))
    st.caption(
        f"Trained offline (`{results['generated_by']}`, {results['started'][:10]}, "
        f"{minutes(sum(r['train_seconds'] for r in results['settings']))} of training, the runs "
        f"added up, on a {env['cpu_count']}-core {env['processor'] or 'CPU'}, "
        f"{results['processes']} run{'s' if results['processes'] != 1 else ''} at a time with "
        f"one thread each, load "
        f"average {fmt_number(env['load_average'][0], 1)} at the start, torch {env['torch']}). "
        f"Data: {results['data']}.")
    with_bn = show(bn_k)
    plot(shipped_figures(bn_k, width())[1], width="stretch", key="checkpoints")
    deep = with_bn["setting"]["depths"][1]
    first_seed = {}
    for run in with_bn["runs"]:
        first_seed.setdefault(run["label"], run)
    st.caption(
        f"Seed {with_bn['setting']['seeds'][0]}'s deep networks during training, first block ÷ "
        "last block at each checkpoint: " + "; ".join(
            f"{label} " + ", ".join(
                f"{ratio(g['input_norms'][0], g['input_norms'][-2])} (step {g['step']})"
                for g in run["gradients"])
            for label, run in first_seed.items() if run["depth"] == deep) + ".")

# ---- without batch norm -----------------------------------------------------------------------
st.header("Without batch norm")
st.markdown(
    "A residual block adds its branch to its input, x + F(x). He initialisation gives F(x) about "
    "the variance of x, and the two are nearly uncorrelated at the start, so each sum roughly "
    "**doubles the variance**: after n blocks, 2ⁿ times the input's. Batch norm at the end of "
    "each branch keeps F(x) at unit scale (the sum then grows by one unit per block, not "
    "twofold); without it the output of a deep ResNet is huge, and so is its first loss:")
start = []
for d in DEPTHS:
    p, r = flows(d, False, "relu", "A")
    start.append({"Depth": d, "Blocks": (d - 2) // 2,
                  "plain, no batch norm": fmt_number(p["loss"], 3),
                  "ResNet, no batch norm": sci(r["loss"])})
st.dataframe(pd.DataFrame(start), hide_index=True, key="start_losses")
st.caption(f"Loss at initialisation on the same {flow_table.PROBE_SIZE} digits (chance: ln 10 "
           "≈ 2.30); ReLU, seed 0.")
st.markdown(
    "What practice does: start every branch at **zero**, so that each block begins as the "
    "identity and the sum keeps its input's scale. With batch norm, the scale γ of each "
    "branch's last batch norm starts at 0 (Goyal et al., 2017, “Accurate, Large Minibatch SGD”); "
    "without it, the last convolution's weights (Zhang, Dauphin and Ma, 2019, “Fixup”, which "
    "also rescales the other layers). `cifar_net(..., zero_init=True)` does the zeroing. "
    "Trained that way, beside the plain networks (initialised as usual):")
if results is not None:
    measured = "Measured without batch norm: " + verdict.outcomes(show(no_bn_k)) + "."
    st.markdown(measured)
else:
    measured = "Without batch norm it was not measured here (the precomputed runs are missing)."

# ---- live -----------------------------------------------------------------------------------
st.header("Run it yourself")
st.markdown("A short version of the same comparison, trained now on this server: the same "
            "digits, batches and optimiser, fewer steps, the networks one after another. How "
            "long it takes depends on this server and its load: when you press Start, one step "
            "of each network is timed, and the time left is worked out from those timings and "
            "the pace so far.")
job_and_setting = st.session_state.get(JOB)
running = job_and_setting is not None and not job_and_setting[0].poll().done
l1, l2, l3, l4 = st.columns(4)
l1.selectbox("Shallow", [d for d in DEPTHS if d < 56], index=1, key="live_shallow",
             disabled=running)
l2.selectbox("Deep", [d for d in DEPTHS if d > 8], index=3, key="live_deep", disabled=running)
l3.slider("Epochs", 1, 3, 1, key="live_epochs", disabled=running)
l4.selectbox("Seeds", (1, 2, 3), key="live_seeds", disabled=running,
             help="Each seed trains the four networks again from other initial weights and "
                  "batches: a verdict needs the spread between seeds, so at least two.")
l5, l6, l7 = st.columns(3)
l5.selectbox("Data", list(DATA_CHOICES), format_func=DATA_CHOICES.get, key="live_data",
             disabled=running, help="Full data sets are used when this machine has them "
                                    "(or can download them); otherwise the offline subset.")
l6.selectbox("Training images", LIVE_IMAGES, index=1, format_func="{:,}".format,
             key="live_images", disabled=running)
l7.toggle("Batch normalisation", True, key="live_bn", disabled=running,
          help="Without it the residual branches start at zero; the learning rate is 0.1 "
               f"either way. {measured}")
b1, b2 = st.columns(2)
if b1.button("Start", type="primary", disabled=running, key="live_start"):
    shallow, deep = st.session_state["live_shallow"], st.session_state["live_deep"]
    if shallow >= deep:
        st.warning("Pick a shallow network with fewer layers than the deep one.")
    else:
        name, _ = data_or_fallback(st.session_state["live_data"])
        bn = st.session_state["live_bn"]
        setting = degradation.Setting(
            depths=(shallow, deep), epochs=st.session_state["live_epochs"],
            seeds=tuple(range(st.session_state["live_seeds"])), batch_norm=bn,
            zero_init=not bn,
            data=name, train_images=st.session_state["live_images"],
            validation_images=LIVE_VALIDATION)
        try:
            st.session_state[JOB] = (degradation.live_job(
                setting, prepared(name), **queue_options(kind="degradation")), setting)
        except JobLimitError as err:
            st.warning(str(err))
        else:
            st.rerun()
if b2.button("Stop", disabled=not running, key="live_stop"):
    job_and_setting[0].stop()


def how_long(record: dict, found: verdict.Pair) -> str:
    """How many steps the shipped runs of the same kind needed to tell the pair apart."""
    if results is None:
        return ""
    same = [r for r in results["settings"][:2]
            if r["setting"]["batch_norm"] == record["setting"]["batch_norm"]]
    if not same:
        return ""
    shipped_record = same[0]
    shipped_pair = verdict.pair(shipped_record, found.kind)
    seeds = len(shipped_record["setting"]["seeds"])
    if seeds < 2:
        return " The shipped runs of this kind have one seed: they cannot tell either."
    at = verdict.told_apart_at(shipped_record, found.kind)
    if at is None:
        return (f" The shipped runs ({shipped_pair.shallow} against {shipped_pair.deep}, "
                f"{seeds} seeds) did not tell them apart within {shipped_pair.step:,} steps "
                "either.")
    return (f" The shipped runs ({shipped_pair.shallow} against {shipped_pair.deep}, {seeds} "
            f"seeds) told them apart from step {at:,} on: a run needs at least that long.")


@st.fragment(run_every=1.0 if running else None)
def live() -> None:
    if JOB not in st.session_state:
        return
    job, setting = st.session_state[JOB]
    snap = job.poll()
    steps = snap.steps
    if not snap.done:
        last = steps[-1] if steps else None
        if last is None:
            text = "Timing one step of each network…"
        else:
            left = last["seconds_left"]
            limit = job.max_seconds - snap.seconds
            text = (f"{last['run']}, seed {last['seed']}: step {last['step']} of "
                    f"{last['total_steps']}, loss {fmt_number(last['loss'], 3)}; about "
                    f"{fmt_number(left / 60, 1)} minutes left"
                    + (f" (the run stops at its {fmt_number(job.max_seconds / 60, 0)}-minute "
                       "limit before that)" if left > limit else ""))
        st.progress(degradation.live_fraction(setting, steps), text=queue_text(snap) or text)
    elif snap.error:
        st.error(f"The run failed: {snap.error.strip().splitlines()[-1]}")
    else:
        why = {"idle": " (the page was left)", "lifetime": " (the time limit)"}.get(
            snap.stop_reason, "")
        st.success(f"{'Stopped' if snap.state == 'stopped' else 'Finished'}{why} after "
                   f"{fmt_number(snap.seconds, 0)} s.")
    st.caption(f"{DATA_CHOICES[setting.data]}: the first {setting.train_images:,} training "
               f"images (all, if it has fewer), {setting.validation_images} for validation.")
    runs = snap.result["runs"] if snap.result else degradation.live_runs(setting, steps)
    if runs:
        plot(figures.training_curves(runs, f"Live: {setting.label}", width_px=width()),
             width="stretch", key="live_curves")
    if snap.result and len(snap.result["runs"]) == len(setting.runs()):
        for found in verdict.verdict(snap.result).values():
            text = verdict.sentence(found, snap.result)
            if not found.decided:
                text += how_long(snap.result, found)
            st.markdown(f"**{found.shallow} against {found.deep}.** {text}")
    if snap.done and running:
        st.rerun()  # the whole page: the buttons come back


live()
