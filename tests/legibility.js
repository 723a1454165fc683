// What a class cannot read on a page as the browser drew it, as a list of violations, each
// with a description of the element. Evaluated by tests/test_presentation.py in the page:
//   overflow  an element that reaches past the window, or past an ancestor that hides or
//             scrolls what overflows sideways (content cut by `overflow: hidden`, a label cut
//             with an ellipsis, a figure wider than its column)
//   small     text in the first screen smaller than `minFont` pixels as drawn
//   contrast  text in the first screen under `minContrast` against what lies behind it
//             (WCAG 2.1's relative luminance; text over a picture is not judged)
//   overlap   two labels whose boxes cross: plotly's texts, the animations' titles and
//             Streamlit's captions
//   figure    the page's first figure starts below the first screen
// Options: root (a selector: the part of the page judged; Streamlit's main area by default),
// text and figure (run those checks), minFont, minContrast.
// Computed styles and boxes, not pixels: fonts differ from machine to machine.
(options) => {
  const { root = '[data-testid="stMain"]', text = false, figure = false, minFont = 14,
          minContrast = 4.5 } = options || {};
  const W = document.documentElement.clientWidth;
  const H = window.innerHeight;
  const main = document.querySelector(root);
  if (!main) return [{ kind: "missing", what: root, detail: "is not on the page" }];
  const violations = [];
  // Sideways scrolling that is the element's own design: a data grid scrolls its columns.
  // A select box shows its whole choice when opened: its closed field may end in "…".
  const OWN_SCROLL = '[data-testid="stDataFrame"], [data-testid="stDataFrameResizable"], '
    + '[data-testid="stTable"], [data-testid="stSelectbox"] input';

  const describe = (el) => {
    const testid = el.closest("[data-testid]");
    const words = (el.textContent || el.getAttribute("aria-label") || el.getAttribute("alt")
                   || "").trim().replace(/\s+/g, " ");
    const cls = typeof el.className === "string" ? el.className : el.getAttribute("class");
    return `${el.tagName.toLowerCase()}${cls ? "." + cls.trim().split(/\s+/).slice(0, 2).join(".") : ""}`
      + (testid && testid !== el ? ` in ${testid.dataset.testid}` : "")
      + (words ? ` "${words.slice(0, 60)}"` : "");
  };
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width >= 2 && r.height >= 2
      && el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  };
  // Screen-reader-only text is clipped to a pixel on purpose.
  const visuallyHidden = (el) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      if (e instanceof SVGElement) continue;
      const s = getComputedStyle(e);
      if ((s.clip && s.clip !== "auto") || e.classList.contains("katex-mathml")) return true;
    }
    return false;
  };

  const SHAPES = new Set(["rect", "path", "circle", "ellipse", "polygon", "line", "polyline"]);
  const parse = (colour) => {
    const m = /rgba?\(([^)]+)\)/.exec(colour || "");
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [r, g, b, a];
  };

  // ------------------------------------------------------------------ overflow
  const clipBox = new Map(); // ancestor -> its inner box when it hides or scrolls sideways
  const clipperOf = (el) => {
    if (!clipBox.has(el)) {
      const s = getComputedStyle(el);
      let box = null;
      if (s.overflowX !== "visible") {
        const r = el.getBoundingClientRect();
        box = { left: r.left + el.clientLeft, right: r.left + el.clientLeft + el.clientWidth,
                how: s.overflowX };
      }
      clipBox.set(el, box);
    }
    return clipBox.get(el);
  };
  const reported = new Set();
  // Plotly draws invisible rectangles past its plot for dragging and hovering; an SVG group
  // is only as wide as what it holds. What paints is judged, not its containers.
  const paints = (el) => {
    if (!(el instanceof SVGElement)) return true;
    if (el.closest(".draglayer, .hoverlayer, defs, clipPath, mask")) return false;
    const tag = el.tagName.toLowerCase();
    if (tag === "text" || tag === "image") return true;
    if (!SHAPES.has(tag)) return false;
    const s = getComputedStyle(el);
    const fill = parse(s.fill), stroke = parse(s.stroke);
    return Boolean((fill && fill[3] * Number(s.fillOpacity) > 0.02)
                   || (stroke && stroke[3] * Number(s.strokeOpacity) > 0.02 && parseFloat(s.strokeWidth) > 0));
  };
  for (const el of main.querySelectorAll("*")) {
    if (el.closest(OWN_SCROLL) || !shown(el) || visuallyHidden(el) || !paints(el)) continue;
    if (el.parentElement && reported.has(el.parentElement)) { reported.add(el); continue; }
    const r = el.getBoundingClientRect();
    let problem = null;
    if (r.right > W + 1 || r.left < -1) {
      problem = `reaches past the window (${Math.round(r.left)}…${Math.round(r.right)} of ${W} px)`;
    }
    for (let a = el.parentElement; !problem && a && a !== document.documentElement; a = a.parentElement) {
      const box = clipperOf(a);
      if (box && (r.right > box.right + 1 || r.left < box.left - 1)) {
        problem = `is cut by ${describe(a).slice(0, 80)} (overflow-x: ${box.how}): `
          + `${Math.round(r.left)}…${Math.round(r.right)} in ${Math.round(box.left)}…${Math.round(box.right)}`;
      }
    }
    const s = getComputedStyle(el);
    if (!problem && s.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1
        && el.clientWidth > 0) {
      problem = `holds ${el.scrollWidth} px in ${el.clientWidth} (overflow-x: ${s.overflowX}`
        + `${s.textOverflow === "ellipsis" ? ", text cut with …" : ""})`;
    }
    if (problem) {
      reported.add(el);
      violations.push({ kind: "overflow", what: describe(el), detail: problem });
    }
  }

  // ------------------------------------------------------------------ text: size and contrast
  const over = (top, bottom) => { // ``top`` (rgba) composited over the opaque ``bottom`` (rgb)
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a));
  };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const opacityOf = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  // The colour behind a point: the layers under it, top down, until an opaque one; null when
  // a picture lies behind (an image, a canvas, a gradient) and no colour can be named.
  const behind = (x, y, self) => {
    const layers = [];
    for (const e of document.elementsFromPoint(x, y)) {
      if (e === self || self.contains(e)) {
        if (e !== self) continue;
      }
      const tag = e.tagName.toLowerCase();
      const s = getComputedStyle(e);
      let c = null;
      if (["img", "canvas", "video", "image"].includes(tag)) return null;
      if (e instanceof SVGElement) {
        if (SHAPES.has(tag) && s.fill && s.fill !== "none" && !s.fill.startsWith("url")) {
          c = parse(s.fill);
          if (c) c[3] *= Number(s.fillOpacity) * opacityOf(e);
        }
      } else {
        if (s.backgroundImage && s.backgroundImage !== "none") return null;
        c = parse(s.backgroundColor);
        if (c) c[3] *= opacityOf(e);
      }
      if (c && c[3] > 0.01) {
        layers.push(c);
        if (c[3] >= 0.99) break;
      }
    }
    let colour = [255, 255, 255];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };

  if (text) {
    const unlock = document.createElement("style"); // elementsFromPoint skips pointer-events: none
    unlock.textContent = "* { pointer-events: auto !important; }";
    document.head.appendChild(unlock);
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!el || !node.textContent.trim() || seen.has(el)) continue;
      if (el.closest('[data-testid="stSidebar"], script, style, noscript, title')) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const boxes = [...range.getClientRects()].filter((b) => b.width > 0 && b.height > 0);
      const first = boxes.find((b) => b.top < H && b.bottom > 0 && b.right > 0 && b.left < W);
      if (!first || !shown(el) || visuallyHidden(el)) continue;
      seen.add(el);
      const s = getComputedStyle(el);
      if (/Material Symbols|Material Icons/.test(s.fontFamily)) continue; // an icon, not text
      if (el.closest("[disabled], [aria-disabled='true']")) continue; // WCAG: inactive controls
      let size = parseFloat(s.fontSize);
      if (el instanceof SVGElement && el.getScreenCTM()) {
        const m = el.getScreenCTM();
        size *= Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
      }
      const words = node.textContent.trim().slice(0, 40);
      if (size < minFont - 0.05) {
        violations.push({ kind: "small", what: describe(el),
                          detail: `"${words}" is ${size.toFixed(1)} px` });
      }
      const ink = parse(el instanceof SVGElement ? s.fill : s.color);
      if (!ink) continue;
      ink[3] *= opacityOf(el) * (el instanceof SVGElement ? Number(s.fillOpacity) : 1);
      const back = behind(first.left + first.width / 2, first.top + first.height / 2, el);
      if (!back) continue;
      const contrast = ratio(over(ink, back), back);
      if (contrast < minContrast - 0.005) {
        violations.push({ kind: "contrast", what: describe(el),
                          detail: `"${words}" at ${contrast.toFixed(2)}:1 (${s.color || s.fill} on rgb(${back.map(Math.round)}))` });
      }
    }
    unlock.remove();
  }

  // ------------------------------------------------------------------ labels over each other
  const labels = [...main.querySelectorAll(
    '.js-plotly-plot svg text, .cnnviz-title, [data-testid="stCaptionContainer"]')]
    .filter((el) => el.textContent.trim() && shown(el))
    .map((el) => ({ el, r: el.getBoundingClientRect() }));
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) {
      const a = labels[i], b = labels[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w > 1 && h > 1) {
        violations.push({ kind: "overlap", what: describe(a.el),
                          detail: `crosses ${describe(b.el)} by ${Math.round(w)} × ${Math.round(h)} px` });
      }
    }
  }

  // ------------------------------------------------------------------ the figure first
  if (figure) {
    const figures = [...main.querySelectorAll(
      '[data-testid="stPlotlyChart"], .cnnviz-board, [data-testid="stImage"], .cnnviz-strip, '
      + '[data-testid="stVegaLiteChart"], [data-testid="stPyplot"]')].filter(shown);
    if (figures.length) {
      const top = Math.min(...figures.map((f) => f.getBoundingClientRect().top));
      if (top >= H) {
        violations.push({ kind: "figure", what: describe(figures[0]),
                          detail: `the first figure starts at ${Math.round(top)} px, below the ${H} px screen` });
      }
    }
  }
  return violations;
}
