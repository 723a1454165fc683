"""Loading models for a class at once: one slow download holds up only its own model, a broken
mirror is a clear and remembered failure, and models beyond the memory budget are freed."""

import gc
import socket
import threading
import time
import weakref

import pytest
import torchvision

from cnnviz import activations, cam, images, models
from cnnviz.cam import uncertainty
from cnnviz.models import zoo
from cnnviz.models.cache import ModelCache, model_bytes
from tests.test_models import closed_port_url

RESNET18_FILE = torchvision.models.ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def zoo_cache(monkeypatch, tmp_path):
    """A fresh model cache with a clock the test moves, and an empty torch cache."""
    clock = FakeClock()
    cache = ModelCache(clock=clock)
    monkeypatch.setattr(zoo, "_cache", cache)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return cache, clock


class TrickleServer:
    """A weights mirror on a very slow line: it promises a large file and sends 1 kB every
    0.1 s until told to stop; counts its connections."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/models"
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n")
            while not self.stop.wait(0.1):
                try:
                    conn.sendall(b"x" * 1024)
                except OSError:
                    return

    def close(self):
        self.stop.set()
        self.sock.close()


class GarbageServer:
    """Accepts a connection and answers with something that is not HTTP."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/models"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    def close(self):
        self.sock.close()


def test_a_slow_download_holds_up_only_its_own_model(zoo_cache, monkeypatch):
    server = TrickleServer()
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", server.url)
    received, outcome = [], []

    def student_picks_resnet18():
        try:
            models.load_model("resnet18", progress=lambda done, total: received.append(done))
        except models.WeightsUnavailableError as err:
            outcome.append(err)

    slow = threading.Thread(target=student_picks_resnet18)
    slow.start()
    try:
        while not received:  # the download has started
            time.sleep(0.05)
        start = time.monotonic()
        lite0 = models.load_model()  # the rest of the class
        untrained = models.load_model("resnet18", pretrained=False)
        waited = time.monotonic() - start
        assert lite0.pretrained and not untrained.pretrained
        assert slow.is_alive(), "the slow download should still be going"
        assert waited < 5.0, f"other models waited {waited:.1f} s for a download"
        assert received == sorted(received) and received[-1] >= 1024  # progress for the asker
    finally:
        server.close()
        slow.join(30)
    assert outcome and RESNET18_FILE in str(outcome[0])


def test_a_mirror_that_speaks_no_http_is_a_clear_failure_and_is_remembered(zoo_cache,
                                                                           monkeypatch):
    cache, clock = zoo_cache
    server = GarbageServer()
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", server.url)
    try:
        with pytest.raises(models.WeightsUnavailableError, match="could not be downloaded"):
            models.load_model("resnet18")
        assert server.connections == 1
        start = time.monotonic()
        with pytest.raises(models.WeightsUnavailableError, match=RESNET18_FILE):
            models.load_model("resnet18")  # a rerun of the page: no second wait
        assert time.monotonic() - start < 0.5 and server.connections == 1
        assert isinstance(models.remembered_failure("resnet18"), models.WeightsUnavailableError)
        clock.now += cache.failure_memory_s  # a few minutes later it is tried again
        assert models.remembered_failure("resnet18") is None
        with pytest.raises(models.WeightsUnavailableError):
            models.load_model("resnet18")
        assert server.connections == 2
    finally:
        server.close()


def test_models_beyond_the_budget_are_evicted_and_their_memory_freed(zoo_cache, monkeypatch):
    cache, _ = zoo_cache
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())
    lite0 = models.load_model()
    bundle = models.load_model("resnet18", pretrained=False)
    cache.budget_bytes = model_bytes(lite0.model) + model_bytes(bundle.model) + 1
    photo = images.load_image(images.sample_images()["Cat (Chelsea)"])
    # Use it the way every page does: maps, titles, Grad-CAM, MC dropout (no dropout here).
    activations.capture(bundle, photo, activations.layer_names(bundle)[-1])
    activations.layer_titles(bundle)
    activations.network_input(bundle, photo)
    cam.grad_cam(bundle, photo)
    bundle.classify(photo)
    with pytest.raises(uncertainty.NoDropoutError):
        uncertainty.mc_dropout(bundle, photo)
    gone = weakref.ref(bundle), weakref.ref(bundle.model.conv1.weight)
    key = activations.model_key(bundle)
    del bundle
    models.load_model("mobilenet_v2", pretrained=False)  # over budget: resnet18 goes
    gc.collect()
    assert all(ref() is None for ref in gone), "something still holds the evicted model"
    assert ("efficientnet_lite0", True, str(lite0.device)) in cache  # pinned
    assert cache.evictions == 1
    again = models.load_model("resnet18", pretrained=False)  # loaded afresh, a new identity
    assert activations.model_key(again) != key


def test_the_offline_default_stays_and_the_newest_model_is_kept(zoo_cache):
    cache, _ = zoo_cache
    cache.budget_bytes = 1  # smaller than any model
    lite0 = models.load_model()
    models.load_model("resnet18", pretrained=False)
    models.load_model("mobilenet_v2", pretrained=False)
    names = [key[0] for key in cache.keys()]
    assert names == ["efficientnet_lite0", "mobilenet_v2"]
    assert models.load_model() is lite0


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CNNVIZ_MODEL_CACHE_MB", "512")
    assert ModelCache().budget_bytes == 512 * 2**20
    monkeypatch.setenv("CNNVIZ_MODEL_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="CNNVIZ_MODEL_CACHE_MB='lots'"):
        ModelCache()
