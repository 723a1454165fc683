// The browser side of cnnviz.ui.drawing_pad: a square pad that takes a mouse, a pen or a
// finger (pointer events; `touch-action: none` keeps the page from scrolling under a
// finger), and a Clear button. The strokes are kept as points in [0, 1], so the pad redraws
// at any width and the drawing sent to the server is always the same size: dark ink on
// white, `data.exportSide` pixels square, as a PNG data URL (a few kilobytes). It is sent
// while drawing at most once per `data.delayMs`, and at once when a stroke ends; Clear sends
// null. A pad that Streamlit mounts again (the page's layout changed around it) takes up
// the strokes it had, so what it shows and what the server read stay the same drawing.
// No network, no library.

const kept = new Map(); // the strokes of every pad on the page, by the key the page gave it

// Paint ``strokes`` on a 2-D context ``side`` pixels square: white paper, round dark ink.
function paint(ctx, side, strokes, width) {
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, side, side);
  ctx.strokeStyle = ctx.fillStyle = "#111111";
  ctx.lineWidth = width * side;
  ctx.lineCap = ctx.lineJoin = "round";
  for (const stroke of strokes) {
    ctx.beginPath();
    if (stroke.length === 1) { // a tap: a dot as wide as the ink
      ctx.arc(stroke[0][0] * side, stroke[0][1] * side, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.moveTo(stroke[0][0] * side, stroke[0][1] * side);
    for (const [x, y] of stroke.slice(1)) ctx.lineTo(x * side, y * side);
    ctx.stroke();
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const key = data.key; // the page's key: Streamlit's own changes when it mounts a pad again
  for (const old of parentElement.querySelectorAll(":scope > .cnnviz-pad")) old.cleanup();
  const root = html("div", "cnnviz-pad", parentElement);
  const canvas = html("canvas", "cnnviz-pad-canvas", root);
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", data.label);
  const bar = html("div", "cnnviz-controls", root);
  const clear = html("button", "cnnviz-button", bar, "Clear");
  clear.type = "button";
  html("span", "cnnviz-pad-hint", bar, data.hint);
  const ctx = canvas.getContext("2d");
  const exported = document.createElement("canvas");
  exported.width = exported.height = data.exportSide;
  const exportCtx = exported.getContext("2d");

  let strokes = kept.get(key) || [];
  let drawing = null; // the pointer id that draws now (a second finger is ignored)
  let timer = null;
  let sent = null; // the last data URL sent, so an unchanged drawing is not sent again
  let side = 0;

  function show() {
    paint(ctx, canvas.width, strokes, data.strokeWidth);
    if (!strokes.length) {
      ctx.fillStyle = "#9a9a9a";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.font = `${Math.round(canvas.width / 14)}px "Source Sans Pro", Arial, sans-serif`;
      ctx.fillText(data.placeholder, canvas.width / 2, canvas.height / 2);
    }
    root.dataset.strokes = String(strokes.length);
    clear.disabled = !strokes.length;
  }

  function resize() {
    const next = Math.floor(Math.min(root.clientWidth, data.maxSide));
    if (next < 1 || next === side) return;
    side = next;
    const ratio = window.devicePixelRatio || 1;
    canvas.style.width = canvas.style.height = `${side}px`;
    canvas.width = canvas.height = Math.round(side * ratio);
    show();
  }

  function send() {
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
    let url = null;
    if (strokes.length) {
      paint(exportCtx, data.exportSide, strokes, data.strokeWidth);
      url = exported.toDataURL("image/png");
    }
    if (url === sent) return;
    sent = url;
    root.dataset.chars = String(url ? url.length : 0); // what was sent, for the tests
    setStateValue("drawing", url);
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    const clamp = (v) => Math.max(0, Math.min(1, v));
    return [clamp((event.clientX - box.left) / box.width),
            clamp((event.clientY - box.top) / box.height)];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (drawing !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    drawing = event.pointerId;
    canvas.setPointerCapture(event.pointerId);
    strokes.push([point(event)]);
    kept.set(key, strokes);
    show();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (event.pointerId !== drawing) return;
    event.preventDefault();
    const stroke = strokes[strokes.length - 1];
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) stroke.push(point(e));
    show();
    if (timer === null) timer = window.setTimeout(send, data.delayMs);
  });
  const end = (event) => {
    if (event.pointerId !== drawing) return;
    drawing = null;
    send();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  clear.addEventListener("click", () => {
    strokes = [];
    kept.delete(key);
    show();
    send();
  });

  const observer = new ResizeObserver(resize);
  observer.observe(root);
  resize();
  if (strokes.length) send();

  root.cleanup = () => {
    if (timer !== null) window.clearTimeout(timer);
    observer.disconnect();
    root.remove();
  };
  return root.cleanup;
}
