"""Transfer learning: the demo set and its leak-free split, the chapter's head and phases
(exactly the intended parameters train), cached-feature training equal to uncached training,
MC dropout, the augmentation pipeline, the model file, and a short real run on the demo."""

import copy
import io
import re
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnviz import images, models
from cnnviz.train import TorchLearner, fit
from cnnviz.train.transfer import augment
from cnnviz.train.transfer import fine_tuned
from cnnviz.train import transfer
from cnnviz.train.transfer.backbone_features import eval_inputs, features
from cnnviz.train.transfer.finetune import FineTuning, Plan, Progress, stratified_sample
from cnnviz.train.transfer.group_split import grouped_split
from cnnviz.train.transfer.texture_demo import SOURCES, TEXTURES, demo_split, texture_demo
from cnnviz.train.transfer.report import cam_gallery, evaluate, mc_dropout


# ------------------------------------------------------------------ the demo set and splits
def test_demo_set_has_balanced_texture_classes_from_the_bundled_photos():
    photos = texture_demo()
    assert photos.classes == ("gravel", "plants", "wood")
    assert set(photos.counts.values()) == {160}
    sizes = {photos.image(i).size for i in range(0, len(photos), 7)}
    assert sizes <= {(s, s) for s in (48, 64, 80, 96)} and len(sizes) > 1  # several scales


def _box(name: str) -> tuple[int, int, int]:
    x, y, s = map(int, re.search(r"_x(\d+)_y(\d+)_s(\d+)", name).groups())
    return x, y, s


def _photo(name: str) -> str:
    """The source photo a demo patch was cut from, from its name."""
    return re.sub(r"_x\d+_y\d+_s\d+\.png$", "", name.split("/", 1)[1])


def test_the_demo_tests_on_photos_that_no_training_or_validation_patch_came_from():
    photos, split = demo_split()
    parts = split.parts()
    assert sorted(np.concatenate(list(parts.values()))) == list(range(len(photos)))
    for c, name in enumerate(photos.classes):
        sources = {part: {_photo(photos.names[i]) for i in index if photos.labels[i] == c}
                   for part, index in parts.items()}
        assert all(sources.values()), (name, sources)  # every class in every part
        assert not (sources["test"] & (sources["train"] | sources["validation"])), name
        assert len(sources["train"]) >= 2 and sources["validation"] <= sources["train"], name
        # Validation patches are new regions of the training photos: no pixel shared.
        train = [(_photo(photos.names[i]), _box(photos.names[i])) for i in split.train
                 if photos.labels[i] == c]
        for i in parts["validation"][photos.labels[parts["validation"]] == c]:
            x, y, s = _box(photos.names[i])
            assert all(x + s <= tx or tx + ts <= x or y + s <= ty or ty + ts <= y
                       for photo, (tx, ty, ts) in train if photo == _photo(photos.names[i]))
    # A group is a source photo: a grouped split of the demo cannot test on a training photo.
    for group in np.unique(photos.groups):
        assert len({_photo(photos.names[i]) for i in np.flatnonzero(photos.groups == group)}) == 1


def test_every_demo_photo_lies_in_assets_with_its_licence_recorded():
    licences = (images.ASSETS / "LICENSES.md").read_text()
    for name, source in SOURCES:
        assert (images.ASSETS / source.photo).is_file()
        assert source.photo.split("/")[-1] in licences, source.photo
    assert len(SOURCES) >= 3 * len(TEXTURES)


def test_demo_cells_lie_inside_their_photos_and_apart():
    for name, source in SOURCES:
        with Image.open(images.ASSETS / source.photo) as photo:
            width, height = photo.size
        cells = source.cells
        for left, top, side in cells:
            assert 0 <= left and left + side <= width and 0 <= top and top + side <= height
        for i, (x, y, s) in enumerate(cells):
            for tx, ty, ts in cells[i + 1:]:
                assert x + s <= tx or tx + ts <= x or y + s <= ty or ty + ts <= y, name


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(3, 12), min_size=2, max_size=5), st.integers(1, 4),
       st.integers(0, 10_000))
def test_grouped_split_keeps_groups_whole_and_every_class_in_every_split(groups_per_class,
                                                                          per_group, seed):
    labels, groups = [], []
    for c, n in enumerate(groups_per_class):
        for g in range(n):
            labels += [c] * per_group
            groups += [c * 100 + g] * per_group
    labels, groups = np.array(labels), np.array(groups)
    split = grouped_split(labels, groups, seed=seed)
    parts = list(split.parts().values())
    assert sorted(np.concatenate(parts)) == list(range(len(labels)))
    seen = [set(groups[p]) for p in parts]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    for c in range(len(groups_per_class)):
        total = (labels == c).sum()
        counts = [(labels[p] == c).sum() for p in parts]
        assert min(counts) >= per_group  # at least one group each
        for count, share in zip(counts[1:], (0.15, 0.15)):  # nearest to the target, by a group
            assert abs(count - share * total) <= per_group or count == per_group


def test_grouped_split_refuses_a_group_with_two_classes():
    with pytest.raises(ValueError, match="more than one class"):
        grouped_split([0, 1, 0, 0, 1, 1], [7, 7, 1, 2, 3, 4])


# ------------------------------------------------------------------ head and phases
@pytest.fixture(scope="module")
def resnet50_net():
    """The real ResNet-50 architecture (random weights: counting needs no download)."""
    return transfer.build(models.load_model("resnet50", pretrained=False), 6)


@pytest.fixture(scope="module")
def lite0_net(lite0):
    return transfer.build(lite0, 4)


def trainable_names(net) -> set[str]:
    return {name for name, p in net.named_parameters() if p.requires_grad}


def test_the_chapters_head_and_resnet50_counts(resnet50_net):
    head = resnet50_net.head
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert head[0].in_features == 2048 and head[0].out_features == 256 and head[2].p == 0.4
    counts = transfer.phase_counts(resnet50_net)
    assert counts["head"] == 2048 * 256 + 256 + 256 * 6 + 6 == 526_086  # the chapter's ~525K
    original = sum(p.numel() for p in models.load_model("resnet50", pretrained=False)
                   .model.parameters())
    assert original == 25_557_032  # the chapter's 25.6 M: with the 1,000-class fc
    assert counts["all"] == original - (2048 * 1000 + 1000) + 526_086 == 24_034_118
    assert transfer.chapter_resnet50() == (counts, 24_034_118, 25_557_032)


@pytest.mark.parametrize("phase", transfer.PHASE_KEYS)
def test_each_phase_trains_exactly_its_parameters_resnet50(resnet50_net, phase):
    net = resnet50_net
    net.set_phase(phase)
    names = [n for n, _ in net.named_parameters()]
    expected = {
        "head": {n for n in names if n.startswith("head.")},
        "last_blocks": {n for n in names if n.startswith(("head.", "backbone.layer4.1.",
                                                          "backbone.layer4.2."))},
        "all": set(names),
    }[phase]
    assert trainable_names(net) == expected
    net.set_phase("head")


def test_each_phase_trains_exactly_its_parameters_lite0(lite0_net):
    net = lite0_net
    names = [n for n, _ in net.named_parameters()]
    net.set_phase("last_blocks")
    assert trainable_names(net) == {n for n in names if n.startswith((
        "head.", "backbone._blocks.14.", "backbone._blocks.15.", "backbone._conv_head.",
        "backbone._bn1."))}
    net.set_phase("head")
    assert trainable_names(net) == {n for n in names if n.startswith("head.")}


def test_frozen_layers_stay_in_eval_mode_and_a_step_changes_only_trainable_weights(lite0_net):
    net = copy.deepcopy(lite0_net)
    net.set_phase("last_blocks")
    net.train()
    assert not net.backbone._blocks[0]._bn1.training and net.backbone._blocks[15]._bn1.training
    assert net.head[2].training
    before = {k: v.clone() for k, v in net.state_dict().items()}
    learner = TorchLearner(net, torch.optim.Adam([p for p in net.parameters() if p.requires_grad],
                                                 lr=1e-3))
    x = torch.randn(4, 3, 224, 224).numpy()
    learner.train_step(x, np.array([0, 1, 2, 3]))
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    trainable = trainable_names(net)
    assert {k for k in changed if k in dict(net.named_parameters())} == trainable
    # Batch norm statistics change only in the unfrozen blocks.
    stats = {k for k in changed if k.endswith(("running_mean", "running_var",
                                               "num_batches_tracked"))}
    assert stats and all(k.startswith(("backbone._blocks.14.", "backbone._blocks.15.",
                                       "backbone._bn1.")) for k in stats)


def test_building_leaves_the_shared_model_untouched(lite0):
    before = {k: v.clone() for k, v in lite0.model.state_dict().items()}
    net = transfer.build(lite0, 3)
    net.set_phase("all")
    net.train()
    loss = net(torch.randn(2, 3, 224, 224, device=lite0.device)).sum()
    loss.backward()
    torch.optim.SGD(net.parameters(), lr=1.0).step()
    assert not lite0.model.training
    assert not any(p.requires_grad for p in lite0.model.parameters())
    assert all(torch.equal(v, lite0.model.state_dict()[k]) for k, v in before.items())
    assert hasattr(lite0.model, "_fc") and isinstance(lite0.model._fc, torch.nn.Linear)


# ------------------------------------------------------------------ cached = uncached
def test_cached_feature_training_equals_uncached_training_on_the_same_batches(lite0):
    """Phase 1 on cached features and phase 1 through the whole network, fed the same
    augmented images in the same batches (the loop's seed) with the same dropout masks
    (torch's seed), end with the same head."""
    photos, split = demo_split()
    index = split.train[:24]
    rng = np.random.default_rng(0)
    norm = augment.normalisation(lite0)
    inputs = torch.stack([augment.to_input(augment.augment(photos.image(int(i)), rng), norm)
                          for i in index])
    y = photos.labels[index]
    cached_net = transfer.build(lite0, len(photos.classes))
    whole_net = copy.deepcopy(cached_net)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # both sides sum in the same order, whatever else set the count
    try:
        torch.manual_seed(0)
        cached = fit(TorchLearner(cached_net.head,
                                  torch.optim.Adam(cached_net.head.parameters(), 1e-3)),
                     features(cached_net, inputs, batch_size=8).numpy(), y, epochs=2,
                     batch_size=8, seed=3)  # the same batch size: the same conv kernels
        torch.manual_seed(0)
        whole = fit(TorchLearner(whole_net, torch.optim.Adam(whole_net.head.parameters(), 1e-3)),
                    inputs.numpy(), y, epochs=2, batch_size=8, seed=3)
    finally:
        torch.set_num_threads(threads)

    assert len(cached.steps) == len(whole.steps) == 6
    np.testing.assert_allclose([r["loss"] for r in cached.steps],
                               [r["loss"] for r in whole.steps], rtol=1e-4, atol=1e-5)
    for a, b in zip(cached_net.head.parameters(), whole_net.head.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(cached_net.backbone.parameters(),
                                                 whole_net.backbone.parameters()))


# ------------------------------------------------------------------ MC dropout
def test_mc_dropout_matches_torchs_own_dropout_and_repeats_with_its_seed(lite0_net):
    """Our passes (one backbone run, private masks) against the head run in training mode
    with torch's nn.Dropout: the same mean and spread, up to sampling error."""
    net = copy.deepcopy(lite0_net)
    last = net.head[3].weight
    with torch.no_grad():  # drawn on the CPU: the same weights whatever device the net is on
        last.copy_(torch.randn(last.shape, generator=torch.Generator().manual_seed(0)) * 0.5)
    feats = torch.rand(5, 1280, generator=torch.Generator().manual_seed(1))
    mean, std = mc_dropout(net, feats, passes=3000, seed=1)
    torch.manual_seed(0)
    with torch.no_grad():
        on = feats.to(next(net.head.parameters()).device)
        reference = torch.stack([net.head.train()(on).softmax(1) for _ in range(3000)]).cpu()
    net.head.eval()
    np.testing.assert_allclose(mean, reference.mean(0).numpy(), atol=0.03)  # ~4 standard errors
    np.testing.assert_allclose(std, reference.std(0).numpy(), atol=0.03)
    assert (std > 0.01).all()
    again = mc_dropout(net, feats, passes=10, seed=1)
    assert np.array_equal(again[0], mc_dropout(net, feats, passes=10, seed=1)[0])
    assert not np.array_equal(again[0], mc_dropout(net, feats, passes=10, seed=2)[0])


# ------------------------------------------------------------------ augmentation
def photo() -> Image.Image:
    return texture_demo().image(0).resize((120, 90))


def test_with_every_transform_off_training_sees_the_evaluation_crop():
    img = photo()
    out = augment.augment(img, np.random.default_rng(0), enabled=())
    assert out.size == (224, 224) and np.array_equal(np.asarray(out),
                                                     np.asarray(augment.centre(img)))


def test_a_flip_alone_gives_the_crop_or_its_mirror_image():
    img = photo()
    centre = np.asarray(augment.centre(img))
    rng = np.random.default_rng(1)
    outcomes = set()
    for _ in range(20):
        out = np.asarray(augment.augment(img, rng, enabled=("hflip",)))
        outcomes.add("same" if np.array_equal(out, centre) else
                      "mirror" if np.array_equal(out, centre[:, ::-1]) else "other")
    assert outcomes == {"same", "mirror"}


def test_crops_follow_the_chapters_scale_and_ratio():
    rng = np.random.default_rng(2)
    for _ in range(300):
        top, left, h, w = augment._crop_box(256, 200, rng)
        assert 0 <= top and top + h <= 200 and 0 <= left and left + w <= 256
        assert 0.69 <= h * w / (256 * 200) <= 1.0
        assert 3 / 4 - 0.02 <= w / h <= 4 / 3 + 0.02


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet50"])
def test_the_normalisation_is_the_one_the_backbone_was_trained_with(name):
    bundle = models.load_model(name, pretrained=name == models.DEFAULT_MODEL)
    norm = augment.normalisation(bundle)
    for value in (0, 77, 255):
        grey = Image.new("RGB", (300, 300), (value, value, value))
        expected = bundle.preprocess(grey)[:, 100, 100]
        ours = augment.to_input(augment.centre(grey), norm)[:, 100, 100]
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    assert (norm == augment.CHAPTER) == (name != models.DEFAULT_MODEL)


def test_previews_are_twelve_different_draws():
    shots = augment.previews(photo(), count=12, seed=0)
    assert len(shots) == 12 and len({np.asarray(s).tobytes() for s in shots}) == 12


# ------------------------------------------------------------------ the model file
def test_a_saved_model_loads_back_with_its_class_names_and_answers(lite0_net):
    net = copy.deepcopy(lite0_net)
    torch.nn.init.normal_(net.head[3].weight)
    data = fine_tuned.save(net, "efficientnet_lite0", ["a", "b", "c", "d"])
    bundle = fine_tuned.load(data, "mine.pt")
    assert bundle.categories == ["a", "b", "c", "d"] and "mine.pt" in bundle.weights
    x = torch.randn(2, 3, 224, 224, device=bundle.device)
    with torch.no_grad():
        torch.testing.assert_close(bundle.model(x), net.eval()(x))


class NotWeights:
    pass


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("case, pattern", [
    ("empty", r"is empty"),
    ("text", r"not a PyTorch weights file"),
    ("bare", r"bare state dict"),
    ("other dict", r"not a model downloaded from this page"),
    ("pickle", r"holds Python objects other than weights"),
    ("backbone", r"fine-tuned from 'vgg16', which this app does not offer"),
    ("classes", r"no list of 2 to 4,000 class names"),
    ("shapes", r"does not fit efficientnet_lite0 with 3 classes"),
])
def test_a_wrong_model_file_gets_a_clear_message(case, pattern, lite0_net):
    good = torch.load(io.BytesIO(fine_tuned.save(lite0_net, "efficientnet_lite0", list("abcd"))),
                      weights_only=True)
    data = {
        "empty": b"",
        "text": b"these are my weights, honest",
        "bare": _torch_bytes(lite0_net.state_dict()),
        "other dict": _torch_bytes({"epoch": 3, "optimizer": {}}),
        "pickle": _torch_bytes(NotWeights()),
        "backbone": _torch_bytes({**good, "backbone": "vgg16"}),
        "classes": _torch_bytes({**good, "classes": "abcd"}),
        "shapes": _torch_bytes({**good, "classes": list("abc")}),
    }[case]
    with pytest.raises(fine_tuned.CheckpointError, match=pattern):
        fine_tuned.load(data, "upload.pt")


# ------------------------------------------------------------------ a real run
ACCURACY_FLOOR = 0.5  # on new photos (chance: 33 %); bench/bench_transfer_bn.py reached 68-80 %
def test_a_short_real_run_on_the_demo_beats_chance_by_far(lite0):
    """Phase 1 on cached features and a short phase 2 on the real backbone, on a small demo
    set tested on new photos: the test accuracy must be far above chance (33 %), and every
    step recorded."""
    photos, split = demo_split(seed=0, patches_per_class=32)
    net = transfer.build(lite0, len(photos.classes))
    plan = Plan(phases=("head", "last_blocks"), copies=1, batch_size=16,
                max_seconds=3600).with_epochs(head=6, last_blocks=1)  # no budget in the way
    run = FineTuning(net, photos, split, augment.normalisation(lite0), plan)
    result = run.run()
    assert [r.key for r in result.reports] == ["head", "last_blocks"]
    assert result.ended == "finished" and result.reports[0].feature_images == len(split.train)
    assert result.evaluation.accuracy >= ACCURACY_FLOOR, result.evaluation.confusion
    assert result.best_val_accuracy >= 0.7  # new regions of the training photos: easier
    assert result.evaluation.mc_std.shape == (len(split.test), 3)
    assert not result.evaluation.sampled
    # The evaluation's numbers agree with a plain forward pass of the kept weights.
    inputs = eval_inputs(photos, split.test, augment.normalisation(lite0))
    with torch.no_grad():
        plain = result.net(inputs.to(lite0.device)).argmax(1).cpu().numpy()
    assert np.array_equal(plain, result.evaluation.predictions)


class Watcher:
    """Stands where a Job stands (FineTuning.run asks it for the loop's callbacks): keeps a
    copy of the weights after every epoch and asks to stop after ``steps`` steps."""

    def __init__(self, net, steps: int):
        self.net, self.steps, self.seen, self.epochs = net, steps, 0, []

    def callbacks(self) -> dict:
        return {"on_step": self.on_step, "on_epoch": self.on_epoch,
                "should_stop": lambda: self.seen >= self.steps}

    def on_step(self, record):
        self.seen += 1

    def on_epoch(self, record):
        self.epochs.append((record["val_accuracy"], copy.deepcopy(self.net.state_dict())))


def test_stop_ends_the_run_and_keeps_the_weights_of_the_best_validation_epoch(lite0):
    photos, split = demo_split(seed=1, patches_per_class=16)
    net = transfer.build(lite0, len(photos.classes))
    plan = Plan(phases=("head", "last_blocks"), copies=1, batch_size=4).with_epochs(
        head=8, last_blocks=3)
    watcher = Watcher(net, steps=8 * (len(split.train) // 4) + 3)  # into phase 2
    result = FineTuning(net, photos, split, augment.normalisation(lite0), plan,
                        test=False).run(watcher)
    assert result.ended == "stopped" and [r.key for r in result.reports] == ["head",
                                                                               "last_blocks"]
    assert result.evaluation is None
    accuracies = [a for a, _ in watcher.epochs]
    best = int(np.argmax(accuracies))  # the first of the best
    assert result.best_val_accuracy == accuracies[best]
    kept = result.net.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in watcher.epochs[best][1].items())
    assert not any(p.requires_grad for p in result.net.parameters()) and not result.net.training


# ------------------------------------------------------------------ progress, budget, stop
class Recorder(Watcher):
    """A Watcher that also records the run's progress whenever the run asks whether to stop
    (before every batch of features and every training step) and stops on ``stop_when``."""

    def __init__(self, net, run, stop_when=lambda progress: False):
        super().__init__(net, steps=10**9)
        self.run, self.stop_when, self.seen_progress = run, stop_when, []

    def callbacks(self) -> dict:
        return {**super().callbacks(), "should_stop": self.should_stop}

    def should_stop(self) -> bool:
        progress = self.run.progress()
        self.seen_progress.append(progress)
        return self.stop_when(progress)


def test_progress_counts_every_part_in_its_own_units_and_rate(lite0):
    photos, split = demo_split(seed=2, patches_per_class=24)
    net = transfer.build(lite0, len(photos.classes))
    plan = Plan(phases=("head", "last_blocks"), copies=2, batch_size=8,
                max_seconds=600).with_epochs(head=2, last_blocks=1)
    run = FineTuning(net, photos, split, augment.normalisation(lite0), plan)
    recorder = Recorder(net, run)
    result = run.run(recorder)
    titles = run.parts()
    assert titles == ["Preparing the validation photos",
                      "Phase 1: the new head only: computing the frozen backbone's features",
                      "Phase 1: the new head only: training",
                      "Phase 2: the last two blocks and the head: training",
                      "Testing on photos the network never saw"]
    by_part = {}
    for p in recorder.seen_progress:
        by_part.setdefault(p.title, []).append(p)
    features_part = by_part[titles[1]]
    assert {p.total for p in features_part} == {2 * len(split.train)}  # copies × photos
    assert [p.done for p in features_part] == list(range(0, 2 * len(split.train), 16))
    assert all(p.part == 2 and p.parts == 5 and p.unit == "images" for p in features_part)
    head = by_part[titles[2]]
    assert {p.total for p in head} == {2 * (2 * len(split.train) // 8)}  # steps of phase 1
    assert head[-1].detail == "epoch 2 of 2" and head[-1].done == head[-1].total - 1
    assert {p.total for p in by_part[titles[3]]} == {len(split.train) // 8}
    assert run.progress().title == titles[4] and run.progress().fraction == 1.0
    assert result.evaluation is not None


def test_time_left_is_the_rest_of_the_part_at_the_rate_measured_in_it():
    assert Progress(2, 5, "features", 40, 200, "images", 10.0).seconds_left == 40.0
    assert Progress(2, 5, "features", 0, 200, "images", 10.0).seconds_left is None
    assert Progress(3, 5, "training", 5, 20, "steps", 1.0).fraction == 0.25


def test_a_run_stopped_while_features_are_computed_keeps_no_model(lite0):
    photos, split = demo_split(seed=3, patches_per_class=24)
    net = transfer.build(lite0, len(photos.classes))
    run = FineTuning(net, photos, split, augment.normalisation(lite0),
                     Plan(phases=("head",), copies=2))
    result = run.run(Recorder(net, run, lambda p: "features" in p.title and p.done >= 16))
    assert result.net is None and result.evaluation is None
    assert result.ended == "stopped" and result.reports[0].ended == "stopped"


def test_the_budget_covers_computing_features_and_a_run_out_of_time_keeps_no_model(lite0):
    photos, split = demo_split(seed=4, patches_per_class=64)
    net = transfer.build(lite0, len(photos.classes))
    plan = Plan(phases=("head",), copies=5, max_seconds=4.0)  # features of 5 × 120 photos
    run = FineTuning(net, photos, split, augment.normalisation(lite0), plan)
    start = time.perf_counter()
    result = run.run()
    elapsed = time.perf_counter() - start
    assert result.net is None and result.ended == "time"
    # It stopped at the first batch past the budget (preparing the validation photos or
    # computing features), not after all 600 images' features.
    assert elapsed < plan.max_seconds + 30, elapsed
    assert sum(r.feature_images for r in result.reports) == 0


def test_a_test_sample_keeps_every_class_in_its_share():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    index = np.arange(100)
    sample = stratified_sample(labels, index, 20, seed=0)
    assert len(set(sample.tolist())) == len(sample) and set(sample) <= set(index)
    assert np.bincount(labels[sample]).tolist() == [12, 6, 2]
    assert stratified_sample(labels, index, 500, seed=0) is index  # enough time: every photo
    assert np.bincount(labels[stratified_sample(labels, index, 3, seed=1)]).tolist() == [2, 1, 1]


# ------------------------------------------------------------------ batch norm frozen
def test_with_batch_norm_frozen_training_keeps_imagenets_statistics(lite0_net):
    """Frozen batch norm normalises with the running statistics (evaluation mode) and keeps
    them, while its scale and shift still learn; trained batch norm moves its statistics."""
    for frozen in (True, False):
        net = copy.deepcopy(lite0_net)
        net.frozen_batch_norm = frozen
        net.set_phase("all")
        net.train()
        norms = {name: m for name, m in net.backbone.named_modules()
                 if isinstance(m, torch.nn.BatchNorm2d)}
        assert len(norms) == 49 and all(m.training != frozen for m in norms.values())
        before = {k: v.clone() for k, v in net.state_dict().items()}
        learner = TorchLearner(net, torch.optim.Adam(net.parameters(), lr=1e-3))
        learner.train_step(torch.randn(4, 3, 224, 224).numpy(), np.array([0, 1, 2, 0]))
        after = net.state_dict()
        stats = [f"backbone.{n}.{s}" for n in norms for s in ("running_mean", "running_var")]
        kept = [torch.equal(before[k], after[k]) for k in stats]
        assert all(kept) if frozen else not any(kept)
        scales = [f"backbone.{n}.weight" for n in norms]
        assert not any(torch.equal(before[k], after[k]) for k in scales)
