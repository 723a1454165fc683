"""Why ResNets work: the degradation problem and the gradient-flow argument, measured on plain
and residual networks of He et al.'s CIFAR family."""

import pandas as pd
import streamlit as st

from cnnviz.figures import depth as figures
from cnnviz.figures.depth import sci
from cnnviz.figures.style import fmt_number
from cnnviz.train import cifar_net
from cnnviz.train.depth import degradation
from cnnviz.train.depth import gradient_flow
from cnnviz.train.depth.cifar_net import (
    DEPTHS,
    PAPER_PARAMETERS,
    layer_count,
    parameter_count,
)
from cnnviz.train.depth.images32 import images32
from cnnviz.train.jobs import JobLimitError
from cnnviz.ui import presentation, url_state
from cnnviz.ui.charts import CONFIG
from cnnviz.ui.training import (DATA_CHOICES, data_or_fallback, load_split, queue_options,
                                queue_text)

JOB = "why_resnets_job"  # the live run (a cnnviz.train.jobs.Job) and its setting
PROBE_SIZE = 128  # digits in the batch the gradients are measured on
LIVE_IMAGES = (1000, 3500, 10000)  # training images of a live run (the first of the split)
LIVE_VALIDATION = 500

page = presentation.page_header(
    "Why ResNets work",
    "The chapter argues in two steps. **Degradation:** a deeper plain network ends with a "
    "*higher training error* than a shallower one, so the trouble is optimisation, not "
    "overfitting. **Gradient flow:** with a skip connection the gradient reaching an early "
    "block has a term that is never a long product of small factors. Here both are measured on "
    "He et al.'s CIFAR networks (plain and residual, 6n+2 layers) and real handwritten digits.")


@st.cache_resource(show_spinner=False, max_entries=2)
def prepared(name: str):
    """A data set padded to 32×32 for the networks, shared by every session."""
    return images32(load_split(name))


@st.cache_data(show_spinner="Measuring the gradients of both networks on a real batch…",
               max_entries=24)
def flows(depth: int, batch_norm: bool, activation: str, shortcut: str) -> tuple[dict, dict]:
    digits = prepared("subset")
    images, labels = digits.tensors(digits.train, PROBE_SIZE)
    records = []
    for residual in (False, True):
        net = cifar_net(depth, residual, batch_norm=batch_norm, activation=activation,
                        shortcut=shortcut, in_channels=1, seed=0)
        records.append(gradient_flow.measure(net, images, labels).as_dict())
    return records[0], records[1]


@st.cache_data(show_spinner=False)
def shipped() -> dict:
    return degradation.load()


def verdict_sentence(record: dict) -> str:
    """What one setting's runs show, from their final training losses."""
    shallow, deep = record["setting"]["depths"]
    found = degradation.verdict(record)

    def loss(label: str) -> str:
        value = found["final_losses"].get(label)
        return "diverged" if value is None else fmt_number(value, 3)

    plain = (f"the deeper plain network ends **worse** (plain-{deep} {loss(f'plain-{deep}')} "
             f"against plain-{shallow} {loss(f'plain-{shallow}')}): degradation"
             if found["plain_degrades"] else
             f"the deeper plain network does **not** end worse here (plain-{deep} "
             f"{loss(f'plain-{deep}')}, plain-{shallow} {loss(f'plain-{shallow}')})")
    residual = (f"ResNet-{deep} ends at {loss(f'ResNet-{deep}')} against ResNet-{shallow}'s "
                f"{loss(f'ResNet-{shallow}')}")
    text = f"Final training loss (last epoch's mean): {plain}; {residual}."
    final = found["final_losses"]
    pairs = [final.get(f"{kind}-{d}") for kind in ("plain", "ResNet") for d in (deep, shallow)]
    if all(pairs):
        text += (f" Deep ÷ shallow: plain **{fmt_number(pairs[0] / pairs[1], 1)}×**, residual "
                 f"**{fmt_number(pairs[2] / pairs[3], 1)}×**.")
    if found["residual_degrades"]:
        steps = len(next(r for r in record["runs"] if r.get("loss"))["loss"])
        text += (f" In these {steps:,} steps the deeper residual network has not overtaken the "
                 "shallower one either (He et al. trained for 64,000 iterations before it did); "
                 "what the shortcuts change is how much depth costs.")
    return text


# ---- the networks ----------------------------------------------------------------------------
st.header("The networks")
url_state.bind("depth", 56, allowed=DEPTHS)
url_state.bind("batch_norm", True)
url_state.bind("activation", "ReLU", allowed=("ReLU", "sigmoid"))
url_state.bind("shortcut", "A", allowed=("A", "B"))
c1, c2, c3, c4 = page.controls().columns([2, 1, 1, 1])
c1.select_slider("Depth (6n+2 layers)", DEPTHS, key="depth")
c2.toggle("Batch normalisation", key="batch_norm")
c3.segmented_control("Activation", ["ReLU", "sigmoid"], key="activation", required=True)
c4.segmented_control("Shortcut", ["A", "B"], key="shortcut", required=True,
                     help="A: identity, zero-padded where the shape changes (no parameters). "
                          "B: a 1×1 convolution where the shape changes.")
url_state.publish("depth", "batch_norm", "activation", "shortcut")
depth, batch_norm = st.session_state["depth"], st.session_state["batch_norm"]
activation, shortcut = st.session_state["activation"].lower(), st.session_state["shortcut"]
options = dict(batch_norm=batch_norm, shortcut=shortcut)

rows = []
for residual in (False, True):
    net = cifar_net(depth, residual, activation=activation, **options)
    parts = parameter_count(depth, residual, **options)
    published = PAPER_PARAMETERS.get(depth) if residual and batch_norm and shortcut == "A" else None
    rows.append({
        "Network": f"{'ResNet' if residual else 'plain'}-{depth}",
        "Weighted layers": layer_count(net),
        "Parameters (counted by torch)": sum(p.numel() for p in net.parameters()),
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
    "from 28×28 to 32×32, so the networks take one channel (the table counts three, as the "
    "paper's CIFAR images have).")

# ---- gradient flow --------------------------------------------------------------------------
st.header("Gradient flow at initialisation")
plain, residual = flows(depth, batch_norm, activation, shortcut)
left, right = st.columns([3, 2])
left.plotly_chart(figures.gradient_flow(plain, residual, depth), config=CONFIG,
                  width="stretch", key="flow")
factors = [a / b for a, b in zip(plain["input_norms"], plain["input_norms"][1:])]
blocks = len(factors)
product = plain["input_norms"][0] / plain["input_norms"][-1]
geometric = product ** (1 / blocks)
with right:
    st.markdown(f"**Measured on {PROBE_SIZE} training digits**, cross-entropy loss, "
                "batch statistics (as in training), same initial seed for both networks.")
    st.markdown("**Plain:** the gradient at the first block is the output's gradient times one "
                "factor per block,")
    st.latex(r"\Big\|\frac{\partial L}{\partial x_1}\Big\| = \Big\|\frac{\partial L}{\partial "
             r"x_L}\Big\| \prod_{l=1}^{L-1} \frac{\|\partial L/\partial x_l\|}"
             r"{\|\partial L/\partial x_{l+1}\|}")
    shown = " × ".join(fmt_number(f, 2) for f in factors[:3]) + " × … × " + fmt_number(
        factors[-1], 2)
    st.markdown(
        f"= {sci(plain['input_norms'][-1])} × ({shown}) = {sci(plain['input_norms'][-1])} × "
        f"{sci(product)} = **{sci(plain['input_norms'][0])}**: {blocks} factors, geometric mean "
        f"{fmt_number(geometric, 3)}.")
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
    ratios = {name: r["input_norms"][0] / r["input_norms"][-2]
              for name, r in (("plain", plain), ("residual", residual))}
    st.markdown(f"First block ÷ last block: plain **{sci(ratios['plain'])}**, residual "
                f"**{sci(ratios['residual'])}**.")
with st.expander("The gradient of each layer's weights"):
    st.plotly_chart(figures.weight_gradients(plain, residual, depth), config=CONFIG,
                    width="stretch", key="weights")


def change(ratio: float) -> str:
    return f"grows {sci(ratio)}×" if ratio >= 1 else f"shrinks {sci(1 / ratio)}×"


st.caption(
    f"From the last block back to the first, the plain network's gradient "
    f"{change(ratios['plain'])}, the residual network's {change(ratios['residual'])}. Batch "
    "norm tends to make a deep plain network's gradient explode towards the input at "
    "initialisation (Yang et al., 2019, “A Mean Field Theory of Batch Normalization”); "
    "without it, or with sigmoid, it tends to vanish. Either way a long product of per-block "
    "factors drifts far from 1: switch the settings above and watch.")

# ---- degradation ------------------------------------------------------------------------------
st.header("Degradation, measured")
try:
    results = shipped()
except (FileNotFoundError, ValueError) as err:
    st.error(f"The precomputed training runs could not be read: {err}")
    results = None
if results is not None:
    env = results["environment"]
    st.markdown(
        f"Trained once offline (`{results['generated_by']}`, {results['started'][:10]}, "
        f"{fmt_number(results['wall_seconds'] / 60, 0)} minutes on a {env['cpu_count']}-core "
        f"CPU with {env['torch_threads']} thread{'s' if env['torch_threads'] != 1 else ''}, "
        f"load average "
        f"{fmt_number(env['load_average'][0], 1)} at the start, torch {env['torch']}). Data: "
        f"{results['data']}.")
    for k, record in enumerate(results["settings"]):
        s = record["setting"]
        shallow, deep = s["depths"]
        st.subheader(f"{s['label'][0].upper()}{s['label'][1:]}: {shallow} against {deep} layers")
        st.plotly_chart(figures.training_curves(record["runs"], s["label"]), config=CONFIG,
                        width="stretch", key=f"curves_{k}")
        st.markdown(verdict_sentence(record))
        st.caption(
            f"{record['train_size']:,} training and {record['validation_size']:,} validation "
            f"images; {s['epochs']} epochs of batches of {s['batch_size']} (the same batches in "
            f"the same order for all four); SGD, learning rate {s['lr']} (rising linearly to it "
            f"over the first {s['warmup_steps']} steps), momentum {s['momentum']}, weight decay "
            f"{s['weight_decay']}; seed {s['seed']}; "
            f"{fmt_number(record['wall_seconds'] / 60, 1)} minutes for the four.")
        st.plotly_chart(figures.checkpoint_gradients(record["runs"]), config=CONFIG,
                        width="stretch", key=f"checkpoints_{k}")
        st.caption("First block ÷ last block at each checkpoint: " + "; ".join(
            f"{run['label']} " + ", ".join(
                f"{sci(g['input_norms'][0] / g['input_norms'][-2])} (step {g['step']})"
                for g in run["gradients"])
            for run in record["runs"] if run["depth"] == deep and run.get("gradients")) + ".")

# ---- live -----------------------------------------------------------------------------------
st.header("Run it yourself")
st.markdown("A short version of the same comparison, trained now on this server: the same "
            "digits, batches and optimiser, fewer steps. Four networks one after another; on a "
            "laptop CPU one epoch of all four takes a minute or two.")
job_and_setting = st.session_state.get(JOB)
running = job_and_setting is not None and not job_and_setting[0].poll().done
l1, l2, l3 = st.columns(3)
l1.selectbox("Shallow", [d for d in DEPTHS if d < 56], index=1, key="live_shallow",
             disabled=running)
l2.selectbox("Deep", [d for d in DEPTHS if d > 8], index=3, key="live_deep", disabled=running)
l3.slider("Epochs", 1, 3, 1, key="live_epochs", disabled=running)
l4, l5, l6 = st.columns(3)
l4.selectbox("Data", list(DATA_CHOICES), format_func=DATA_CHOICES.get, key="live_data",
             disabled=running, help="Full data sets are used when this machine has them "
                                    "(or can download them); otherwise the offline subset.")
l5.selectbox("Training images", LIVE_IMAGES, index=1, format_func="{:,}".format,
             key="live_images", disabled=running)
l6.toggle("Batch normalisation", True, key="live_bn", disabled=running,
          help="Without it the learning rate is 0.01: at 0.1 the networks diverge.")
b1, b2 = st.columns(2)
if b1.button("Start", type="primary", disabled=running, key="live_start"):
    shallow, deep = st.session_state["live_shallow"], st.session_state["live_deep"]
    if shallow >= deep:
        st.warning("Pick a shallow network with fewer layers than the deep one.")
    else:
        name, _ = data_or_fallback(st.session_state["live_data"])
        setting = degradation.Setting(
            depths=(shallow, deep), epochs=st.session_state["live_epochs"],
            batch_norm=st.session_state["live_bn"],
            lr=degradation.Setting.lr if st.session_state["live_bn"] else 0.01,
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


@st.fragment(run_every=1.0 if running else None)
def live() -> None:
    if JOB not in st.session_state:
        return
    job, setting = st.session_state[JOB]
    snap = job.poll()
    steps = snap.steps
    if not snap.done:
        last = steps[-1] if steps else None
        st.progress(degradation.live_fraction(setting, steps),
                    text=queue_text(snap) or ((
                        f"{last['run']}: step {last['step']} of {last['total_steps']}, "
                        f"loss {fmt_number(last['loss'], 3)}") if last else "Starting…"))
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
        st.plotly_chart(figures.training_curves(runs, f"Live: {setting.label}"),
                        config=CONFIG, width="stretch", key="live_curves")
    if snap.result and len(snap.result["runs"]) == 4:
        st.markdown(verdict_sentence(snap.result))
    if snap.done and running:
        st.rerun()  # the whole page: the buttons come back


live()
