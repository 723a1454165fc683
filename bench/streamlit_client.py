"""A Streamlit session without a browser: it speaks the app's WebSocket protocol (the protobuf
messages of the installed Streamlit), uploads a file as the browser's uploader does, fetches
every image the page shows and reruns a fragment every ``run_every`` seconds as the browser
does (so a page that polls a training job keeps it alive), but draws nothing.

Why: with 30 Chromium pages on the server's own cores, the browsers' rendering takes most of
the CPU and the times measure them; these clients leave the cores to the server, as a class
whose students bring their own devices does. Used by ``bench_class.py --clients`` and
``bench_train_class.py``.

The server must run with ``server.enableXsrfProtection=false`` (the browser's XSRF cookie
dance is not reproduced here).
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileURLs, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


class StreamlitClient:
    """One session of the app at ``url`` (http://host:port). ``finished`` is set when a script
    run ends; ``images`` lists each image shown as (caption, ``time.monotonic()`` once
    fetched); ``exceptions`` counts the exception boxes the page showed."""

    def __init__(self, url: str):
        self.url = url
        self.session_id: str | None = None
        self.elements: list = []  # every element the server sent, in order
        self.images: list[tuple[str, float]] = []
        self.finished = asyncio.Event()
        self.exceptions = 0
        self.error: Exception | None = None  # what stopped the reader
        self._socket = None
        self._reader: asyncio.Task | None = None
        self._pending: dict[str, asyncio.Future] = {}
        self._fetches: list[asyncio.Task] = []
        self._page, self._query = "", ""
        self._page_hash = ""  # the page's hash (st.navigation's), which a browser sends back
        self.kept: list = []  # widget states sent with every run, as a browser keeps them
        self._reruns: dict[str, tuple[float, asyncio.Task]] = {}  # fragment -> its timer

    async def connect(self) -> None:
        ws_url = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        self._socket = await websockets.connect(ws_url, subprotocols=["streamlit"],
                                                max_size=None, open_timeout=60)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self._stop_reruns()
        if self._reader:
            self._reader.cancel()
        if self._socket:
            await self._socket.close()

    async def run(self, page: str, query: str = "", widget_states=(), *,
                  fragment: str | None = None) -> None:
        """Ask for a script run of ``page`` (its URL path) with these widget states (of one
        ``fragment`` only, as its ``run_every`` timer does)."""
        if fragment is None:
            self.finished.clear()
            if page != self._page:
                self._page_hash = ""
            self._page, self._query = page, query
        msg = BackMsg()
        msg.rerun_script.query_string = query
        msg.rerun_script.page_name = page
        msg.rerun_script.page_script_hash = self._page_hash
        msg.rerun_script.widget_states.widgets.extend([*self.kept, *widget_states])
        if fragment is not None:
            msg.rerun_script.fragment_id = fragment
            msg.rerun_script.is_auto_rerun = True
        await self._socket.send(msg.SerializeToString())

    def texts(self, since: int = 0):
        """(kind, text) of every element shown from index ``since`` on: alerts, progress
        lines, headings, metrics (label: value), Markdown."""
        for element in self.elements[since:]:
            kind = element.WhichOneof("type")
            if kind == "metric":
                yield kind, f"{element.metric.label}: {element.metric.body}"
            elif kind in ("alert", "progress", "heading", "markdown"):
                item = getattr(element, kind)
                yield kind, getattr(item, "body", "") or getattr(item, "text", "")

    def _stop_reruns(self, fragments=None) -> None:
        for fragment in list(fragments if fragments is not None else self._reruns):
            _, task = self._reruns.pop(fragment, (None, None))
            if task is not None:
                task.cancel()

    async def _rerun_every(self, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.run(self._page, self._query, fragment=fragment)

    async def upload(self, name: str, data: bytes) -> UploadedFileInfo:
        """Put ``data`` where the server says, as the uploader widget does; returns the
        description the widget's state carries."""
        request_id = uuid.uuid4().hex
        answer = self._pending[request_id] = asyncio.get_running_loop().create_future()
        msg = BackMsg()
        msg.file_urls_request.request_id = request_id
        msg.file_urls_request.file_names.append(name)
        msg.file_urls_request.session_id = self.session_id
        await self._socket.send(msg.SerializeToString())
        try:
            urls: FileURLs = (await answer)[0]
        finally:
            del self._pending[request_id]
        await asyncio.to_thread(_put_file, self.url + urls.upload_url, name, data)
        return UploadedFileInfo(name=name, size=len(data), file_id=urls.file_id,
                                file_urls=urls)

    def widget_id(self, kind: str, label: str) -> str:
        """The id of the latest ``kind`` widget (an Element field, e.g. ``file_uploader``)
        labelled ``label``."""
        for element in reversed(self.elements):
            if element.WhichOneof("type") == kind and getattr(element, kind).label == label:
                return getattr(element, kind).id
        raise LookupError(f"No {kind} labelled {label!r} on the page.")

    async def fetched(self) -> None:
        """Wait for every image requested so far."""
        await asyncio.gather(*self._fetches)

    async def _read(self) -> None:
        try:
            await self._receive()
        except Exception as err:  # a broken message must not pass for a slow server
            self.error = err
            self.finished.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(err)

    async def _receive(self) -> None:
        async for data in self._socket:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.session_id = msg.new_session.initialize.session_id
                if not msg.metadata.run.fragment_ids:  # a whole run: it sets its timers anew
                    self._stop_reruns()
            elif kind == "navigation":  # the page st.navigation chose: runs name it
                self._page_hash = msg.navigation.page_script_hash
            elif kind == "auto_rerun":
                fragment, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
                if self._reruns.get(fragment, (None,))[0] != interval:
                    self._stop_reruns([fragment])
                    self._reruns[fragment] = (interval, asyncio.create_task(
                        self._rerun_every(fragment, interval)))
            elif kind == "stop_auto_rerun":
                self._stop_reruns(msg.stop_auto_rerun.fragment_ids)
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                self.elements.append(element)
                if element.WhichOneof("type") == "exception":
                    self.exceptions += 1
                if element.WhichOneof("type") == "imgs":
                    for img in element.imgs.imgs:
                        self._fetches.append(asyncio.create_task(
                            self._fetch(img.url, img.caption)))
            elif kind == "file_urls_response":
                future = self._pending.get(msg.file_urls_response.response_id)
                if future and not future.done():
                    future.set_result(list(msg.file_urls_response.file_urls))
            elif kind == "script_finished":
                self.finished.set()

    async def _fetch(self, path: str, caption: str) -> None:
        url = path if path.startswith(("http:", "https:", "data:")) else self.url + path
        if not url.startswith("data:"):
            try:
                await asyncio.to_thread(_get, url)
            except urllib.error.HTTPError as err:
                if err.code == 404:  # replaced by a newer run before it was fetched, as a
                    return           # browser finds when a page redraws every second
                raise
        self.images.append((caption, time.monotonic()))


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def _put_file(url: str, name: str, data: bytes) -> None:
    """A multipart form with one file, as the browser's uploader sends it."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
