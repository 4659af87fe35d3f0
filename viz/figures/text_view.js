// The text view in the browser: builds one span per token once, then on each hover decodes one row or column
// of the packed pattern (viz/views/text_view.py) and sets the background of the spans it touches. Every string
// from the text goes in through textContent / title, never as markup.
(function () {
  "use strict";
  const t0 = performance.now();
  const D = JSON.parse(document.getElementById("tv-data").textContent);
  const n = D.n;
  const bytes = (s) => {
    const b = atob(s);
    const a = new Uint8Array(b.length);
    for (let i = 0; i < b.length; i++) a[i] = b.charCodeAt(i);
    return a;
  };
  const codes = bytes(D.codes);
  const index = D.layout === "topk" ? new Uint16Array(bytes(D.index).buffer) : null;
  // Each token's strongest weights, exact (float32) and in order: the one-byte codes shade, these are named.
  const topIndex = new Uint16Array(bytes(D.topIndex).buffer);
  const topWeight = new Float32Array(bytes(D.topWeight).buffer);
  const table = new Float64Array(256);
  for (let c = 1; c < 256; c++) table[c] = D.floor * Math.exp((c - 1) * D.step);

  const box = document.getElementById("tv-text");
  const who = document.getElementById("tv-who");
  const strongest = document.getElementById("tv-top");
  const hint = document.getElementById("tv-hint");
  const idle = () => { who.textContent = ""; strongest.textContent = ""; hint.textContent = D.idle; };
  const maxLabel = document.getElementById("tv-max");
  // The model's float32 weight to three significant digits, trailing zeros kept (0.280, as the note says).
  const shown = (x) => x.toPrecision(3);
  const spans = new Array(n);
  const frag = document.createDocumentFragment();
  // Long texts go in paragraphs the browser can skip while off screen (content-visibility): without them, shading
  // a few dozen tokens spread over 4,096 made Chromium repaint for 100-200 ms per hover. A paragraph ends after
  // PARA tokens at a newline or a sentence end, or at a word start after twice that (anywhere after 4 × PARA: CJK).
  const chunked = n > D.chunkMin;
  let para = frag;
  let inPara = 0;
  const endsSentence = (s) => /\n$|[.!?;:]["')\]]?\s*$/.test(s);
  for (let i = 0; i < n; i++) {
    if (chunked && (i === 0 || (inPara >= D.para && (endsSentence(D.shown[i - 1]) || /\n/.test(D.gaps[i]))) ||
        (inPara >= 2 * D.para && /^\s/.test(D.gaps[i] + D.shown[i])) || inPara >= 4 * D.para)) {
      para = document.createElement("div");
      para.className = "para";
      frag.appendChild(para);
      inPara = 0;
    }
    inPara++;
    if (D.gaps[i]) para.appendChild(document.createTextNode(D.gaps[i]));
    const s = document.createElement("span");
    s.className = D.chip[i] ? "tok chip" : "tok";
    s.textContent = D.shown[i];
    s.title = D.labels[i];
    s.dataset.i = i;
    spans[i] = s;
    para.appendChild(s);
  }
  box.appendChild(frag);

  const w = new Float64Array(n);
  let touched = [];
  let current = -1;
  let pinned = -1;

  function decode(i) {
    const out = [];
    if (D.layout === "topk") {
      const base = i * D.k;
      for (let t = 0; t < D.k; t++) {
        const c = codes[base + t];
        if (c) { const j = index[base + t]; w[j] = table[c]; out.push(j); }
      }
    } else if (D.dir === "query") {
      const tri = D.layout === "tri";
      const base = tri ? (i * (i + 1)) / 2 : i * n;
      const len = tri ? i + 1 : n;
      for (let j = 0; j < len; j++) {
        const c = codes[base + j];
        if (c) { w[j] = table[c]; out.push(j); }
      }
    } else {
      const tri = D.layout === "tri";
      for (let r = tri ? i : 0; r < n; r++) {
        const c = codes[tri ? (r * (r + 1)) / 2 + i : r * n + i];
        if (c) { w[r] = table[c]; out.push(r); }
      }
    }
    return out;
  }

  function clear() {
    for (const j of touched) { spans[j].style.backgroundColor = ""; w[j] = 0; }
    touched = [];
    if (current >= 0) spans[current].classList.remove("sel", "pin");
    current = -1;
  }

  function show(i) {
    const start = performance.now();
    clear();
    touched = decode(i);
    let max = 0;
    for (const j of touched) if (w[j] > max) max = w[j];
    const [r, g, b] = D.rgb;
    for (const j of touched) {
      spans[j].style.backgroundColor = `rgba(${r}, ${g}, ${b}, ${(D.alpha * w[j] / max).toFixed(4)})`;
    }
    current = i;
    spans[i].classList.add(pinned === i ? "pin" : "sel");
    const top = [];
    for (let t = 0; t < D.topK; t++) {
      const x = topWeight[i * D.topK + t];
      if (x > 0) top.push([topIndex[i * D.topK + t], x]);
    }
    who.textContent = `${pinned === i ? "Pinned" : "Hovered"} ${D.labels[i]}`;
    strongest.textContent = ` ${D.strongestWord} ${top.map(([j, x]) => `${D.labels[j]} ${shown(x)}`).join(" · ")}`;
    hint.textContent = pinned === i ? " (click it again or press Esc to unpin)" : " (click to pin)";
    maxLabel.textContent = top.length ? shown(top[0][1]) : "max";
    window.__textView.lastShowMs = performance.now() - start;
  }

  function remember() {
    try { sessionStorage.setItem(D.store, String(pinned)); } catch (e) { /* storage off: the pin lasts this page */ }
  }

  box.addEventListener("mouseover", (e) => {
    const i = e.target.dataset ? Number(e.target.dataset.i) : NaN;
    if (pinned < 0 && Number.isInteger(i) && i !== current) show(i);
  });
  box.addEventListener("mouseleave", () => {
    if (pinned < 0) { clear(); idle(); maxLabel.textContent = "max"; }
  });
  box.addEventListener("click", (e) => {
    const i = e.target.dataset ? Number(e.target.dataset.i) : NaN;
    if (!Number.isInteger(i)) return;
    pinned = pinned === i ? -1 : i;
    remember();
    show(i);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && pinned >= 0) { const i = pinned; pinned = -1; remember(); show(i); }
  });

  window.__textView = {
    buildMs: 0, lastShowMs: 0, spans: () => spans, pinned: () => pinned, dir: D.dir, what: D.what, shown,
  };
  idle();
  let restored = -1;
  try { restored = Number(sessionStorage.getItem(D.store) ?? -1); } catch (e) { restored = -1; }
  if (Number.isInteger(restored) && restored >= 0 && restored < n) {
    pinned = restored;
    show(restored);
    spans[restored].scrollIntoView({ block: "nearest" });
  }
  window.__textView.buildMs = performance.now() - t0;
})();
