/**
 * The upload page: one self-contained HTML document (inline CSS and JS, no build step).
 * Each photo is sent as its own multipart request to /api/predict, two at a time, so
 * results appear as they come and one bad file does not fail the others. A photo the model's
 * detector judges unlike its training data is shown as "Not recognised — closest: <top>, p%"; the
 * "Show what the model looked at" toggle asks for ?explain=1 and shows the explanation overlay.
 */
export function renderPage(o: { review?: boolean } = {}): string {
  // Without the prediction log (serve --no-log) there is nothing to review: no link to /review.
  return o.review === false ? PAGE.replace(REVIEW_LINK, '') : PAGE;
}

const REVIEW_LINK = '<nav class="hint"><a href="/review">Review logged photos</a></nav>';

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parts classifier</title>
<style>
  :root { --bg:#f5f6f8; --card:#fff; --ink:#1d2330; --muted:#667085; --line:#e3e6ec; --accent:#2f6fed; --bad:#c0392b; }
  * { box-sizing: border-box; }
  body { margin:0; font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
  main { max-width:760px; margin:0 auto; padding:16px; }
  header h1 { font-size:1.4rem; margin:8px 0 2px; }
  #model { color:var(--muted); font-size:.9rem; min-height:1.3em; }
  #model b { color:var(--ink); font-weight:600; }
  #drift { color:var(--muted); font-size:.85rem; min-height:1.2em; }
  #drift[data-alarm="true"] { color:var(--bad); font-weight:600; }
  #drop { display:block; margin:16px 0; border:2px dashed #b8c0cc; border-radius:14px; background:var(--card); padding:28px 16px;
          text-align:center; cursor:pointer; transition:border-color .15s, background .15s; }
  #drop.over { border-color:var(--accent); background:#eef3ff; }
  #drop p { margin:6px 0; }
  #drop .hint { color:var(--muted); font-size:.9rem; }
  .btn { display:inline-block; background:var(--accent); color:#fff; border:0; border-radius:10px; padding:10px 18px;
         font:inherit; font-weight:600; cursor:pointer; }
  .btn.secondary { background:transparent; color:var(--accent); padding:6px 8px; }
  #file { position:absolute; width:1px; height:1px; opacity:0; }
  #bar { display:flex; justify-content:space-between; align-items:center; color:var(--muted); font-size:.9rem; min-height:2em; }
  #results { list-style:none; padding:0; margin:0; display:grid; gap:12px; }
  .result { display:grid; grid-template-columns:112px 1fr; gap:14px; background:var(--card); border:1px solid var(--line);
            border-radius:14px; padding:12px; align-items:start; }
  .result img, .result .noimg { width:112px; height:112px; object-fit:cover; border-radius:10px; background:#e9ecf1; color:transparent; }
  .name { color:var(--muted); font-size:.85rem; overflow-wrap:anywhere; }
  .label { font-size:1.5rem; font-weight:700; margin:2px 0; text-transform:capitalize; }
  .label .pct { font-size:1rem; font-weight:600; color:var(--muted); margin-left:6px; }
  .meter { height:10px; background:#e9ecf1; border-radius:6px; overflow:hidden; }
  .meter > span { display:block; height:100%; background:var(--accent); border-radius:6px; width:0; transition:width .4s; }
  .probs { margin:10px 0 4px; display:grid; gap:4px; font-size:.85rem; }
  .prob { display:grid; grid-template-columns:minmax(60px,auto) 1fr 52px; gap:8px; align-items:center; }
  .prob .meter { height:6px; }
  .prob .meter > span { background:#98a2b3; }
  .prob .v { text-align:right; font-variant-numeric:tabular-nums; }
  .meta { color:var(--muted); font-size:.8rem; margin-top:6px; }
  .error { color:var(--bad); font-weight:600; }
  .label.unknown { color:var(--bad); text-transform:none; font-size:1.2rem; }
  .result[data-unknown="true"] .meter > span { background:#98a2b3; }
  .toggle { display:flex; gap:8px; align-items:center; font-size:.95rem; cursor:pointer; margin:-4px 0 8px; }
  .explain { grid-column:1 / -1; margin:4px 0 0; }
  .result .explain img { display:block; width:auto; height:auto; max-width:100%; object-fit:contain; border-radius:10px; background:none; }
  .explain figcaption { color:var(--muted); font-size:.8rem; margin-top:4px; }
  .pending { color:var(--muted); }
  @media (max-width:480px) {
    main { padding:12px; }
    .result { grid-template-columns:80px 1fr; gap:10px; }
    .result img, .result .noimg { width:80px; height:80px; }
    .label { font-size:1.25rem; }
  }
</style>
</head>
<body>
<main>
  <header>
    <h1>Parts classifier</h1>
    <div id="model">Loading model…</div>
    <div id="drift"></div>
    ${REVIEW_LINK}
  </header>
  <label id="drop" for="file">
    <p><strong>Drop photos here</strong></p>
    <p class="hint">or</p>
    <span class="btn">Choose photos</span>
    <p class="hint">JPEG, PNG or WebP; several at once are classified as a list.</p>
    <input id="file" type="file" accept="image/*" multiple>
  </label>
  <label class="toggle"><input id="explain" type="checkbox"> Show what the model looked at</label>
  <div id="bar"><span id="summary"></span><button id="clear" class="btn secondary" type="button" hidden>Clear</button></div>
  <ul id="results"></ul>
</main>
<script>
(() => {
  const $ = (s) => document.querySelector(s);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; };
  const pct = (p) => (p * 100).toFixed(1) + '%';
  const METHOD_NAMES = { 'grad-cam': 'Grad-CAM', hirescam: 'HiResCAM', contrast: 'contrast CAM', integrated: 'integrated gradients', occlusion: 'occlusion' };
  const results = $('#results'), drop = $('#drop'), input = $('#file');
  const queue = []; let running = 0; let done = 0; let total = 0;
  // Signed in: the server adds the session's CSRF token, which every POST must carry.
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? { 'X-CSRF-Token': csrfMeta.content } : {};

  fetch('/api/model').then((r) => r.json()).then((m) => {
    const box = $('#model'); box.textContent = '';
    if (m.error) { box.textContent = m.error; return; }
    box.append('Model ', el('b', null, m.id), ' · ' + m.arch + ' / ' + m.mode + ' · classes: ' + m.labels.join(', '));
    const acc = m.card && m.card.metrics && m.card.metrics.accuracy;
    if (typeof acc === 'number') box.append(' · test accuracy ' + pct(acc) + ' (n=' + m.card.metrics.n + ')');
    const u = m.unknown;
    if (u) box.append(u.active ? ' · unknown below ' + u.method + ' score ' + (+u.threshold.toPrecision(4)) + ' (set for ' + pct(u.acceptRate) + ' of known photos accepted)' : ' · no unknown detection');
  }).catch(() => { $('#model').textContent = 'Model information unavailable'; });

  // The drift alarm's line: the last answers' unknown rate against what validation predicts.
  function drift() {
    fetch('/api/stats').then((r) => r.json()).then((s) => {
      const d = s.drift, box = $('#drift');
      if (!d || !d.answers) { box.textContent = ''; return; }
      let t = 'Last ' + d.answers + ' answers: ' + pct(d.unknownRate) + ' not recognised';
      if (d.expectedUnknownRate != null) t += ' (validation expects ' + pct(d.expectedUnknownRate) + ')';
      if (d.alarm) t += ' — drift alarm: far more unknowns than expected (p = ' + d.pValue.toExponential(1) + ')';
      if (d.scoreAlarm) t += ' — the photos look unlike the validation photos (mean score p = ' + d.scorePValue.toExponential(1) + ')';
      box.textContent = t; box.dataset.alarm = String(!!(d.alarm || d.scoreAlarm));
    }).catch(() => {});
  }
  drift();

  function summary() {
    $('#summary').textContent = total ? done + ' of ' + total + ' classified' : '';
    $('#clear').hidden = total === 0;
  }

  function addFiles(files) {
    for (const file of files) {
      const li = el('li', 'result'); li.dataset.state = 'pending';
      const img = el('img'); img.alt = file.name; img.src = URL.createObjectURL(file);
      img.onerror = () => { URL.revokeObjectURL(img.src); img.replaceWith(el('div', 'noimg')); };
      const body = el('div');
      body.append(el('div', 'name', file.name), el('div', 'status pending', 'Classifying…'));
      li.append(img, body); results.prepend(li);
      queue.push({ file, li, body }); total++;
    }
    summary(); pump();
  }

  function pump() {
    while (running < 2 && queue.length) {
      const job = queue.shift(); running++;
      classify(job).finally(() => { running--; done++; summary(); pump(); if (!running) drift(); });
    }
  }

  async function classify({ file, li, body }) {
    const form = new FormData(); form.append('image', file, file.name);
    const status = body.querySelector('.status');
    try {
      const res = await fetch($('#explain').checked ? '/api/predict?explain=1' : '/api/predict', { method: 'POST', body: form, headers: CSRF });
      const data = await res.json().catch(() => ({ error: 'HTTP ' + res.status }));
      if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
      show(li, body, status, data); li.dataset.state = 'done';
    } catch (e) {
      status.className = 'status error'; status.textContent = e.message; li.dataset.state = 'error';
    }
  }

  function show(li, body, status, r) {
    const p = r.probability;
    status.remove();
    li.dataset.unknown = String(!!r.unknown);
    let label;
    if (r.unknown) {
      label = el('div', 'label unknown', 'Not recognised — closest: ' + r.top + ', ' + Math.round(p * 100) + '%');
      const sil = r.ood.silhouette;
      label.title = r.ood.score < r.ood.threshold
        ? 'OOD score ' + r.ood.score.toPrecision(4) + ' below the threshold ' + r.ood.threshold.toPrecision(4) + ' (' + r.ood.method + ')'
        : sil && sil.score === null ? 'no object found on a light background (' + r.ood.method + ')'
        : 'shape score ' + (sil ? sil.score.toPrecision(4) + ' below the threshold ' + sil.threshold.toPrecision(4) : '') + ' (' + r.ood.method + ')';
    } else {
      label = el('div', 'label', r.label); label.append(el('span', 'pct', pct(p)));
    }
    const meter = el('div', 'meter'); const fill = el('span'); meter.append(fill);
    requestAnimationFrame(() => { fill.style.width = pct(p); });
    const probs = el('div', 'probs');
    for (const [k, v] of Object.entries(r.probabilities).sort((a, b) => b[1] - a[1])) {
      const row = el('div', 'prob'); const m = el('div', 'meter'); const f = el('span'); f.style.width = pct(v); m.append(f);
      row.append(el('span', null, k), m, el('span', 'v', pct(v))); probs.append(row);
    }
    const t = r.timings;
    const meta = el('div', 'meta', 'Model ' + r.model.id + ' (' + r.model.arch + ' / ' + r.model.mode + ') · ' +
      Math.round(r.latencyMs) + ' ms' + (t ? ' (model ' + Math.round(t.predictMs) + ' ms)' : ''));
    body.append(label, meter, probs, meta);
    const ex = r.explanation;
    if (ex) {
      const fig = el('figure', 'explain');
      if (ex.overlay) {
        const img = el('img', 'overlay'); img.src = ex.overlay; img.alt = 'What the model looked at for ' + r.top;
        fig.append(img, el('figcaption', null, 'Red: what weighed most for ' + r.top + ' (' + (METHOD_NAMES[ex.method] || ex.method) + ', layer ' + ex.layer + ')'));
      } else {
        fig.append(el('figcaption', 'error', 'No explanation: ' + ex.error));
      }
      li.append(fig);
    }
  }

  input.addEventListener('change', () => { addFiles(input.files); input.value = ''; });
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  // Drops anywhere (the box included, by bubbling) land here, so a photo dropped beside
  // the box is classified instead of replacing the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => { e.preventDefault(); if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files); });
  $('#clear').addEventListener('click', () => {
    for (const img of results.querySelectorAll('img')) URL.revokeObjectURL(img.src);
    results.textContent = ''; total = done = 0; queue.length = 0; summary();
  });
})();
</script>
</body>
</html>
`;
