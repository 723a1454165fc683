// The browser side of cnnviz.figures.animation: draws the grids of an animation as SVG and
// shows its frames with one set of controls (start, back, play / pause, forward, a step
// slider, the speed). Every frame arrives with the data, so a step is a redraw of a few
// outlines here and never a round trip to the server. No network, no library.
//
// Streamlit calls the default export with the data on mount and again when the data change
// (after running the cleanup it returns). Layout is recomputed when the width changes: the
// cell size follows the space there is, and a row of grids that does not fit at the smallest
// cell size wraps, so panels stack on a phone instead of overlapping.

const SVG = "http://www.w3.org/2000/svg";
const MIN_FONT = 7; // below this a cell's text is left out (the colour still shows)

function make(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  if (parent) parent.appendChild(node);
  return node;
}

// The longest text any cell of a grid shows, over its own texts and every frame's.
function longestText(data, g) {
  let longest = 1;
  const grid = data.grids[g];
  for (const t of grid.text || []) longest = Math.max(longest, t.length);
  for (const frame of data.frames) {
    const cells = frame.cells && frame.cells[g];
    for (const t of (cells && cells.text) || []) longest = Math.max(longest, t.length);
  }
  return longest;
}

const measure = document.createElement("canvas").getContext("2d");
const titleFont = (u) => Math.max(14, Math.min(20, u * 0.36)); // never under 14 px

// How wide a grid's title is at unit ``u``, in units (a title longer than its grid pushes
// the next grid along).
function titleUnits(title, u) {
  measure.font = `700 ${titleFont(u)}px "DejaVu Sans", Arial, sans-serif`;
  return (measure.measureText(title).width + 4) / u;
}

// Where every grid goes for a board ``width`` pixels wide: the unit (pixels per layout unit),
// each grid's box, and the board's height.
function arrange(data, width) {
  const GAP_UNITS = data.gap; // between grids, in layout units
  const grids = data.grids;
  const wide = (g, u) => Math.max(grids[g].units, titleUnits(grids[g].title, u));
  const span = (row, u) => row.reduce((s, g) => s + wide(g, u), 0)
    + GAP_UNITS * (row.length - 1);
  const tall = (row) => Math.max(...row.map((g) => grids[g].rows * grids[g].units / grids[g].cols));
  const fit = (rows) => { // the largest unit at which every row fits the width
    let u = data.maxUnit;
    for (let k = 0; k < 60 && rows.some((row) => span(row, u) * u > width); k++) u *= 0.95;
    return u;
  };
  let lines = data.layout.map((row) => row.slice());
  let unit = fit(lines);
  if (unit < data.minUnit) { // wrap: as many grids per line as fit at the smallest unit
    lines = [];
    for (const row of data.layout) {
      let line = [];
      for (const g of row) {
        if (line.length && span([...line, g], data.minUnit) * data.minUnit > width) {
          lines.push(line);
          line = [];
        }
        line.push(g);
      }
      lines.push(line);
    }
    unit = fit(lines);
  }
  const band = (u) => titleFont(u) * 1.7;
  const heightAt = (u) => lines.reduce((h, row) => h + band(u) + tall(row) * u, 0)
    + GAP_UNITS * u * 0.5 * (lines.length - 1);
  if (data.height) {
    const room = data.height * window.innerHeight;
    for (let k = 0; k < 40 && heightAt(unit) > room && unit > 4; k++) unit *= 0.95;
  }
  const boxes = [];
  let y = 0;
  for (const row of lines) {
    let x = 0;
    for (const g of row) {
      const w = grids[g].units * unit;
      boxes[g] = { x, y: y + band(unit), w, cell: w / grids[g].cols, h: grids[g].rows * w / grids[g].cols };
      x += wide(g, unit) * unit + GAP_UNITS * unit;
    }
    y += band(unit) + tall(row) * unit + GAP_UNITS * unit * 0.5;
  }
  return { unit, boxes, titleFont: titleFont(unit), height: Math.ceil(y - GAP_UNITS * unit * 0.5) + 6,
           width: Math.ceil(Math.max(...lines.map((row) => span(row, unit) * unit))) + 6 };
}

function cellFont(cell, longest) {
  return Math.min(30, cell * 0.56, (cell * 0.92) / (0.58 * longest + 0.25));
}

// Focused elements that use the keys themselves: they keep ← → Home End and the space bar.
const TYPING = 'input, textarea, select, [contenteditable]:not([contenteditable="false"]), '
  + '[role="slider"], [role="combobox"], [role="listbox"], [role="option"], '
  + '[role="spinbutton"], [role="textbox"], [role="radio"], [role="menu"], [role="menuitem"], '
  + '[role="grid"], [role="gridcell"], [role="dialog"]';
// ... and those the space bar presses (except a tab: it is already open).
const PRESSABLE = 'button, a[href], summary, [role="button"], [role="switch"], [role="checkbox"]';

function keepsKey(target, key, root) {
  if (!(target instanceof Element) || target === document.body) return false;
  if (root.contains(target)) return target.tagName === "INPUT"; // its own slider steps itself
  if (target.closest(TYPING)) return true;
  return key === " " && !target.closest('[role="tab"]') && Boolean(target.closest(PRESSABLE));
}

// The animation that takes the keys: the one the focus is in, else the one with the most
// of its area on screen (none when no animation is in view).
function inCharge() {
  const roots = [...document.querySelectorAll(".cnnviz-anim")];
  const focused = roots.find((r) => r.contains(document.activeElement));
  if (focused) return focused;
  let best = null;
  let most = 0;
  for (const r of roots) {
    if (!r.checkVisibility()) continue;
    const b = r.getBoundingClientRect();
    const area = Math.max(0, Math.min(b.right, window.innerWidth) - Math.max(b.left, 0))
      * Math.max(0, Math.min(b.bottom, window.innerHeight) - Math.max(b.top, 0));
    if (area > most) { most = area; best = r; }
  }
  return best;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const server = data.server;
  const count = server ? server.count : data.frames.length;
  const frameOf = () => (server ? data.frames[0] : data.frames[index]);
  let index = server ? server.index : data.start;
  let playing = false;
  let timer = null;
  let speed = data.speed;
  let drawn = null; // per grid: {rects, texts, font} of what the board shows
  // Grids that change from frame to frame (an output filling up, products); the others are
  // painted once per layout.
  const changing = data.grids.map((grid, g) => Boolean(grid.filling)
    || data.frames.some((frame) => frame.cells && frame.cells[g]));
  let marksLayer = null;

  // New data call this function again: the board it drew before goes first.
  for (const old of parentElement.querySelectorAll(":scope > .cnnviz-anim")) old.cleanup();
  const root = html("div", "cnnviz-anim", parentElement);
  root.tabIndex = 0;
  root.dataset.frames = String(count);
  root.style.setProperty("--cnnviz-highlight", data.styles.current.stroke);
  const board = make("svg", { class: "cnnviz-board", role: "img" }, root);
  const caption = html("div", `cnnviz-caption ${data.captionClass || ""}`, root);
  const bar = html("div", "cnnviz-controls", root);
  const button = (label, title, act) => {
    const b = html("button", "cnnviz-button", bar, label);
    b.type = "button";
    b.title = title;
    b.addEventListener("click", act);
    return b;
  };
  const first = button("⇤ Start", "First step (Home)", () => request(0));
  const back = button("◀ Back", "One step back (←)", () => request(index - 1));
  const play = button("▶ Play", "Play / pause (space)", () => toggle());
  play.classList.add("cnnviz-primary");
  const forward = button("Forward ▶", "One step forward (→)", () => request(index + 1));
  const slider = html("input", "cnnviz-slider", bar);
  Object.assign(slider, { type: "range", min: 1, max: count, step: 1, value: index + 1 });
  slider.setAttribute("aria-label", data.label);
  const counter = html("span", "cnnviz-count", bar);
  const speeds = html("span", "cnnviz-speeds", bar);
  const speedButtons = Object.keys(data.speeds).map((name) => {
    const b = html("button", "cnnviz-button cnnviz-speed", speeds, name);
    b.type = "button";
    b.addEventListener("click", () => {
      speed = name;
      speedButtons.forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
      if (playing) { stop(); start(); }
    });
    b.setAttribute("aria-pressed", String(name === speed));
    return b;
  });
  if (server || count < 2) { play.hidden = true; speeds.hidden = true; }
  if (server && server.locked) bar.hidden = true; // answer the question first
  if (count < 2) { first.hidden = true; back.hidden = true; forward.hidden = true; slider.hidden = true; }
  slider.addEventListener(server ? "change" : "input", () => request(Number(slider.value) - 1));

  // ---------------------------------------------------------------- the static board
  function layout() {
    const width = Math.max(120, root.clientWidth - 4);
    const place = arrange(data, width);
    board.replaceChildren();
    board.setAttribute("width", place.width);
    board.setAttribute("height", place.height);
    board.setAttribute("viewBox", `-3 -3 ${place.width} ${place.height}`);
    drawn = data.grids.map((grid, g) => drawGrid(grid, g, place.boxes[g], place.titleFont));
    board.boxes = place.boxes;
    const fixed = make("g", {}, board);
    for (const mark of data.marks || []) drawMark(fixed, mark);
    marksLayer = make("g", { class: "cnnviz-marks" }, board);
    for (let g = 0; g < data.grids.length; g++) paintGrid(g, frameOf());
    show();
  }

  function drawGrid(grid, g, box, titleFont) {
    const group = make("g", { transform: `translate(${box.x},${box.y})`, class: "cnnviz-grid",
                              "data-title": grid.title, "data-cell": box.cell.toFixed(1) }, board);
    const title = make("text", { x: 0, y: -titleFont * 0.55, class: "cnnviz-title",
                                 "font-size": titleFont }, group);
    title.textContent = grid.title;
    const cell = box.cell;
    const gap = Math.min(2, cell * 0.06);
    const font = cellFont(cell, longestText(data, g));
    const rects = [];
    const texts = [];
    if (!grid.fill) {
      make("rect", { x: 0, y: 0, width: box.w, height: box.h, fill: grid.background }, group);
      if (grid.lines && cell >= 4) {
        let path = "";
        for (let r = 0; r <= grid.rows; r++) path += `M0 ${r * cell}H${box.w}`;
        for (let c = 0; c <= grid.cols; c++) path += `M${c * cell} 0V${box.h}`;
        make("path", { d: path, class: "cnnviz-lines" }, group);
      }
    } else {
      for (let k = 0; k < grid.rows * grid.cols; k++) {
        const r = Math.floor(k / grid.cols), c = k % grid.cols;
        const rect = make("rect", { x: c * cell + gap / 2, y: r * cell + gap / 2,
                                    width: cell - gap, height: cell - gap, class: "cnnviz-cell" }, group);
        rect.dataset.k = k;
        rects.push(rect);
        if (font >= MIN_FONT && grid.text) {
          const text = make("text", { x: (c + 0.5) * cell, y: (r + 0.5) * cell, "font-size": font,
                                      class: "cnnviz-number" }, group);
          texts.push(text);
        }
      }
      for (const k of grid.dotted || []) {
        const r = Math.floor(k / grid.cols), c = k % grid.cols;
        make("rect", { x: c * cell + 1, y: r * cell + 1, width: cell - 2, height: cell - 2,
                       class: "cnnviz-dotted" }, group);
      }
      if (grid.clickable) {
        group.classList.add("cnnviz-clickable");
        group.addEventListener("click", (event) => {
          const k = event.target.dataset && event.target.dataset.k;
          if (k !== undefined) { stop(); request(Number(k)); }
        });
      }
    }
    return { rects, texts, font, grid };
  }

  // ---------------------------------------------------------------- one frame
  function cellsOf(g, frame) {
    const own = data.grids[g];
    const over = (frame.cells && frame.cells[g]) || {};
    return { fill: over.fill || own.fill, text: over.text || own.text, ink: over.ink || own.ink };
  }

  function paintGrid(g, frame) {
    const { rects, texts, grid } = drawn[g];
    if (!rects.length) return;
    const { fill, text, ink } = cellsOf(g, frame);
    const upto = grid.filling && frame.upto !== undefined ? frame.upto : Infinity;
    for (let k = 0; k < rects.length; k++) {
      const hidden = k > upto;
      rects[k].setAttribute("fill", hidden ? data.hidden.fill : fill[k]);
      rects[k].classList.toggle("cnnviz-hidden", hidden);
      rects[k].setAttribute("stroke", hidden ? data.hidden.line : "rgba(0,0,0,0.12)");
      if (texts[k]) {
        texts[k].textContent = hidden ? "" : text[k];
        texts[k].setAttribute("fill", ink ? ink[k] : "#111111");
      }
    }
  }

  // The bounding box of a mark in board pixels.
  function extent(mark) {
    const [g, , rows, cols] = mark;
    const b = board.boxes[g];
    const r0 = rows[0][0], r1 = rows[rows.length - 1][1];
    const c0 = cols[0][0], c1 = cols[cols.length - 1][1];
    return { x0: b.x + c0 * b.cell, x1: b.x + (c1 + 1) * b.cell,
             y0: b.y + r0 * b.cell, y1: b.y + (r1 + 1) * b.cell };
  }

  function drawMark(layer, mark) {
    const [g, kind, rows, cols] = mark;
    const style = data.styles[kind];
    if (!style) return;
    const b = board.boxes[g];
    const inset = (style.inset || 0) * b.cell + (style.stroke ? style.width / 2 : 0);
    for (const [r0, r1] of rows) {
      for (const [c0, c1] of cols) {
        make("rect", {
          x: b.x + c0 * b.cell + inset, y: b.y + r0 * b.cell + inset,
          width: Math.max(1, (c1 - c0 + 1) * b.cell - 2 * inset),
          height: Math.max(1, (r1 - r0 + 1) * b.cell - 2 * inset),
          fill: style.fill || "none", "fill-opacity": style.opacity,
          stroke: style.stroke || "none", "stroke-width": style.width,
          "stroke-dasharray": style.dash, class: `cnnviz-mark cnnviz-${kind}`,
        }, layer);
      }
    }
  }

  function drawLink(layer, a, b) {
    const p = extent(a), q = extent(b);
    const s = data.link;
    const forward = q.x0 >= p.x1;
    const pairs = forward
      ? [[p.x1, p.y0, q.x0, q.y0], [p.x1, p.y1, q.x0, q.y1]]
      : [[(p.x0 + p.x1) / 2, p.y1, (q.x0 + q.x1) / 2, q.y0]];
    for (const [x1, y1, x2, y2] of pairs) {
      make("line", { x1, y1, x2, y2, stroke: s.stroke, "stroke-width": s.width,
                     "stroke-dasharray": s.dash, "stroke-opacity": s.opacity,
                     class: "cnnviz-link" }, layer);
    }
  }

  function show() {
    const frame = frameOf();
    for (let g = 0; g < data.grids.length; g++) if (changing[g]) paintGrid(g, frame);
    marksLayer.replaceChildren();
    for (const [a, b] of frame.links || []) drawLink(marksLayer, frame.marks[a], frame.marks[b]);
    for (const mark of frame.marks) drawMark(marksLayer, mark);
    caption.innerHTML = frame.caption || "";
    caption.hidden = !frame.caption;
    slider.value = index + 1;
    counter.textContent = `${data.label} ${index + 1} of ${count}`;
    first.disabled = back.disabled = index <= 0;
    forward.disabled = index >= count - 1;
    play.textContent = playing ? "❚❚ Pause" : "▶ Play";
    root.dataset.step = String(index);
    if (frame.params) {
      const url = new URL(window.location.href);
      for (const [key, value] of Object.entries(frame.params)) url.searchParams.set(key, value);
      window.history.replaceState(window.history.state, "", url.toString());
    }
  }

  // ---------------------------------------------------------------- stepping and playing
  function request(target) {
    target = Math.max(0, Math.min(count - 1, target));
    if (target === index) return;
    if (server) { setTriggerValue("step", target); return; }
    index = target;
    show();
  }

  function start() {
    if (index >= count - 1) { index = 0; }
    playing = true;
    show();
    timer = window.setInterval(() => {
      if (index >= count - 1) { stop(); return; }
      index += 1;
      show();
      if (index >= count - 1) stop();
    }, data.speeds[speed]);
  }

  function stop() {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
    if (playing) { playing = false; show(); }
  }

  function toggle() { if (playing) stop(); else start(); }

  // The keys go to the animation in view as soon as it is drawn, no click first: one
  // listener on the window, in the capture phase, so that it hears them before anything on
  // the page. Where a page shows several, the one the focus is in, else the one most in view,
  // takes them. A field, a slider or a menu with the focus keeps its keys (and a button its
  // space bar); a tab does not: Streamlit's tabs switch tab on ← →, and they never hear them.
  function onKey(event) {
    const act = { ArrowRight: () => request(index + 1), ArrowLeft: () => request(index - 1),
                  Home: () => request(0), End: () => request(count - 1),
                  " ": () => { if (!server) toggle(); } }[event.key];
    if (!act || event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (keepsKey(event.target, event.key, root) || inCharge() !== root) return;
    event.preventDefault();
    event.stopPropagation();
    act();
  }
  window.addEventListener("keydown", onKey, true);

  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    const width = root.clientWidth;
    if (Math.abs(width - lastWidth) >= 1) { lastWidth = width; layout(); }
  });
  observer.observe(root);
  lastWidth = root.clientWidth;
  layout();

  root.cleanup = () => {
    stop();
    observer.disconnect();
    window.removeEventListener("keydown", onKey, true);
    root.remove();
  };
  return root.cleanup;
}
