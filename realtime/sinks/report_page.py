"""The CSS and JavaScript inlined into every report.html: no CDN, no library, no network.

Own canvas code rather than Plotly: plotly.js would add ~3.5 MB to every report, and the
timeline needs only a heatmap, lanes, a cursor, zoom and pan. The page reads its data from the
JSON in <script id="mer-data"> (written by realtime/sinks/report.py) and exposes `window.mer`
(the view, the last presented video frame) for the browser tests.
"""

from __future__ import annotations

STYLE = """
body { font-family: system-ui, sans-serif; margin: 20px; color: #222; max-width: 1280px; }
h1 { font-size: 21px; margin: 0 0 6px; } h2 { font-size: 17px; margin-top: 26px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
.note { color: #555; font-size: 13px; max-width: 980px; }
.warn { background: #fff4d6; border: 1px solid #e0b84c; padding: 6px 10px; font-size: 13px; max-width: 980px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; }
.fact { border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; min-width: 110px; }
.fact b { display: block; font-size: 18px; } .fact span { font-size: 12px; color: #555; }
#player { width: 100%; max-height: 480px; background: #000; }
#timeline { width: 100%; height: 300px; display: block; cursor: crosshair; border: 1px solid #ccc; }
.controls button { font-size: 13px; margin-right: 4px; }
.legend { font-size: 12px; display: flex; flex-wrap: wrap; gap: 12px; margin: 4px 0; align-items: center; }
.swatch { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
.heatbar { display: inline-block; width: 160px; height: 10px; vertical-align: middle; margin: 0 4px; }
tr.ev { cursor: pointer; } tr.ev:hover { background: #eef5ff; }
.event { border: 1px solid #ddd; border-radius: 6px; padding: 10px; margin: 12px 0; }
.event video { width: 448px; height: 242px; background: #111; }
.event figure { display: inline-block; margin: 4px 10px 4px 0; vertical-align: top; text-align: left; }
.event figcaption { max-width: 448px; }
.event img.di { width: 330px; height: 161px; image-rendering: pixelated; border: 1px solid #bbb; }
.dibar { width: 330px; height: 10px; background: linear-gradient(90deg, #053061, #f7f7f7, #67001f); }
.dilabels { width: 330px; display: flex; justify-content: space-between; font-size: 11px; color: #444; }
figcaption { font-size: 12px; color: #444; }
#missing { display: none; background: #fdd; border: 1px solid #c00; padding: 8px; }
a.seek { cursor: pointer; color: #0645ad; text-decoration: underline; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("mer-data").textContent);
  var video = document.getElementById("player");
  var canvas = document.getElementById("timeline");
  var ctx = canvas.getContext("2d");
  var LANES = D.lanes;  // [{kind, name, colour, items: [[t0, t1, frame0, text], ...]}]
  var R = D.regions.length, B = D.heat.bins, binS = D.heat.bin_s;
  var heat = Uint8Array.from(atob(D.heat.values), function (c) { return c.charCodeAt(0); });  // (R, B)
  var LUT = [];  // 0..254 -> viridis-like rgb; 255 = no face
  var STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  for (var i = 0; i < 255; i++) {
    var x = i / 254 * (STOPS.length - 1), k = Math.min(Math.floor(x), STOPS.length - 2), f = x - k;
    LUT.push(STOPS[k].map(function (a, j) { return Math.round(a + f * (STOPS[k + 1][j] - a)); }));
  }
  var mer = window.mer = {view: [0, Math.max(D.duration_s, 1e-3)], presented: null, errors: []};
  var LABEL_W = 92, AXIS_H = 18, HEAT_FRAC = 0.55;

  function fmt(t) {
    var m = Math.floor(t / 60), s = t - 60 * m;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s.toFixed(3);
  }
  function layout() {
    var w = canvas.clientWidth, h = canvas.clientHeight, dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    var heatH = Math.round((h - AXIS_H) * HEAT_FRAC), laneH = (h - AXIS_H - heatH) / LANES.length;
    return {w: w, h: h, plotW: w - LABEL_W, heatH: heatH, laneH: laneH};
  }
  function tx(t, L) { return LABEL_W + (t - mer.view[0]) / (mer.view[1] - mer.view[0]) * L.plotW; }
  function xt(x, L) { return mer.view[0] + (x - LABEL_W) / L.plotW * (mer.view[1] - mer.view[0]); }

  function drawHeat(L) {
    var cols = Math.max(1, Math.floor(L.plotW)), rowH = L.heatH / R;
    var img = ctx.createImageData(cols, R);
    for (var c = 0; c < cols; c++) {
      var b0 = Math.max(0, Math.floor((mer.view[0] + c / cols * (mer.view[1] - mer.view[0])) / binS));
      var b1 = Math.min(B, Math.max(b0 + 1, Math.ceil((mer.view[0] + (c + 1) / cols * (mer.view[1] - mer.view[0])) / binS)));
      for (var r = 0; r < R; r++) {
        var best = -1, lost = false;
        for (var b = b0; b < b1; b++) { var v = heat[r * B + b]; if (v === 255) lost = true; else if (v > best) best = v; }
        var p = 4 * (r * cols + c), rgb = best >= 0 ? LUT[best] : (lost ? [200, 200, 200] : [255, 255, 255]);
        img.data[p] = rgb[0]; img.data[p + 1] = rgb[1]; img.data[p + 2] = rgb[2]; img.data[p + 3] = 255;
      }
    }
    var tmp = document.createElement("canvas"); tmp.width = cols; tmp.height = R;
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, LABEL_W, 0, L.plotW, L.heatH);
    ctx.fillStyle = "#222"; ctx.font = "11px system-ui"; ctx.textBaseline = "middle";
    for (var r2 = 0; r2 < R; r2++) ctx.fillText(D.regions[r2], 2, (r2 + 0.5) * rowH);
  }
  function drawLanes(L) {
    ctx.font = "11px system-ui"; ctx.textBaseline = "middle";
    LANES.forEach(function (lane, i) {
      var y = L.heatH + i * L.laneH;
      ctx.fillStyle = i % 2 ? "#fafafa" : "#f0f0f0"; ctx.fillRect(LABEL_W, y, L.plotW, L.laneH);
      ctx.fillStyle = "#222"; ctx.fillText(lane.name, 2, y + L.laneH / 2);
      ctx.fillStyle = lane.colour;
      lane.items.forEach(function (it) {
        if (it[1] < mer.view[0] || it[0] > mer.view[1]) return;
        var x0 = Math.max(LABEL_W, tx(it[0], L)), x1 = Math.min(L.w, Math.max(tx(it[1], L), x0 + 2));
        ctx.fillRect(x0, y + 2, x1 - x0, L.laneH - 4);
        if (it[3] && x1 - x0 > 4 * it[3].length) { ctx.fillStyle = "#fff"; ctx.fillText(it[3], x0 + 2, y + L.laneH / 2); ctx.fillStyle = lane.colour; }
      });
    });
  }
  function drawAxis(L) {
    var span = mer.view[1] - mer.view[0], steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800];
    var step = steps.find(function (s) { return span / s <= L.plotW / 90; }) || 3600;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, L.h - AXIS_H, L.w, AXIS_H);
    ctx.fillStyle = "#333"; ctx.font = "10px system-ui"; ctx.textBaseline = "top";
    for (var t = Math.ceil(mer.view[0] / step) * step; t <= mer.view[1]; t += step) {
      var x = tx(t, L); ctx.fillRect(x, L.h - AXIS_H, 1, 4);
      ctx.fillText(step < 1 ? fmt(t) : fmt(t).slice(0, 5), x + 2, L.h - AXIS_H + 4);
    }
  }
  function draw() {
    var L = layout();
    ctx.clearRect(0, 0, L.w, L.h);
    drawHeat(L); drawLanes(L); drawAxis(L);
    var t = mediaToSource(video ? video.currentTime : 0);
    if (t >= mer.view[0] && t <= mer.view[1]) { ctx.fillStyle = "#d00"; ctx.fillRect(tx(t, L) - 1, 0, 2, L.h - AXIS_H); }
    document.getElementById("view").textContent = fmt(mer.view[0]) + " - " + fmt(mer.view[1]);
  }
  mer.draw = draw;

  // The player's clock: annotated.mp4 has one frame per source frame at D.fps; a source video has the source's times.
  function mediaToSource(t) { return t; }
  function seekFrame(frame, t) {
    if (!video) return;
    video.pause();
    video.currentTime = D.video_by_frame ? (frame + 0.5) / D.fps : t + 0.5 / D.fps;  // mid-frame: no rounding to a neighbour
    var span = mer.view[1] - mer.view[0];
    if (t < mer.view[0] || t > mer.view[1]) setView(t - span / 2, t + span / 2);
    draw();
  }
  mer.seekFrame = seekFrame;
  function setView(a, b) {
    var min = Math.min(0.2, D.duration_s), d = D.duration_s;
    if (b - a < min) { var m = (a + b) / 2; a = m - min / 2; b = m + min / 2; }
    if (b - a > d) { a = 0; b = d; }
    if (a < 0) { b -= a; a = 0; }
    if (b > d) { a -= b - d; b = d; }
    mer.view = [Math.max(0, a), b]; draw();
  }
  mer.zoom = function (factor, centre) {
    var c = centre === undefined ? (mer.view[0] + mer.view[1]) / 2 : centre;
    setView(c - (c - mer.view[0]) * factor, c + (mer.view[1] - c) * factor);
  };
  document.getElementById("zoom-in").onclick = function () { mer.zoom(0.5, mediaToSource(video ? video.currentTime : undefined)); };
  document.getElementById("zoom-out").onclick = function () { mer.zoom(2); };
  document.getElementById("zoom-all").onclick = function () { setView(0, D.duration_s); };
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault(); var L = layout();
    mer.zoom(e.deltaY < 0 ? 0.8 : 1.25, xt(e.offsetX, L));
  }, {passive: false});
  var drag = null;
  canvas.addEventListener("mousedown", function (e) { drag = {x: e.offsetX, view: mer.view.slice(), moved: false}; });
  window.addEventListener("mouseup", function () { setTimeout(function () { drag = null; }, 0); });
  canvas.addEventListener("mousemove", function (e) {
    if (!drag || !(e.buttons & 1)) return;
    var L = layout(), dt = (e.offsetX - drag.x) / L.plotW * (drag.view[1] - drag.view[0]);
    if (Math.abs(e.offsetX - drag.x) > 3) drag.moved = true;
    if (drag.moved) setView(drag.view[0] - dt, drag.view[1] - dt);
  });
  canvas.addEventListener("click", function (e) {
    if (drag && drag.moved) return;
    var L = layout(); if (e.offsetX < LABEL_W) return;
    var t = xt(e.offsetX, L), lane = Math.floor((e.offsetY - L.heatH) / L.laneH);
    if (lane >= 0 && lane < LANES.length) {
      var hit = LANES[lane].items.find(function (it) { return t >= it[0] - 2 * binS && t <= it[1] + 2 * binS; });
      if (hit) { seekFrame(hit[2], hit[0]); return; }
    }
    seekFrame(Math.round(t * D.fps), t);
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-frame]"), function (el) {
    el.addEventListener("click", function () { seekFrame(+el.dataset.frame, +el.dataset.t); });
  });
  if (video) {
    video.addEventListener("error", function () { mer.errors.push("video: " + (video.error && video.error.message)); });
    if (video.requestVideoFrameCallback) {
      var onFrame = function (now, meta) {
        mer.presented = {mediaTime: meta.mediaTime, frame: Math.round(meta.mediaTime * D.fps)};
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }
    var tick = function () { draw(); if (!video.paused) requestAnimationFrame(tick); };
    video.addEventListener("play", tick);
    video.addEventListener("seeked", draw);
    video.addEventListener("timeupdate", draw);
  }
  // Replays play only while on screen: a long report opens without decoding a hundred videos.
  var replays = document.querySelectorAll("video.replay");
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (en) { if (en.isIntersecting) en.target.play().catch(function () {}); else en.target.pause(); });
    });
    Array.prototype.forEach.call(replays, function (v) { seen.observe(v); });
  }
  // A report copied without its events/ folder says so instead of showing empty frames.
  var broken = 0;
  Array.prototype.forEach.call(document.querySelectorAll("img.di, video.replay"), function (el) {
    el.addEventListener("error", function () {
      broken += 1;
      var box = document.getElementById("missing");
      box.textContent = broken + " replay or image file(s) could not be loaded: keep report.html next to its events/ folder.";
      box.style.display = "block";
    });
  });
  window.addEventListener("resize", draw);
  draw();
  mer.readyMs = performance.now();  // navigation start -> timeline drawn: what "opens in" means in the tests
  document.body.setAttribute("data-ready", "1");
})();
"""
