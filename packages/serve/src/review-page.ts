import { CONFIDENT_MARGIN, SAMPLE_SHARE } from './log/review-store';

/**
 * The review page (/review): one self-contained HTML document, like the upload page. It lists the
 * review queue (GET /api/review/queue) one group at a time with the photo(s), the answer, the
 * scores and the Grad-CAM overlay of the current group; every action has a key. Decisions, undo
 * and retrain are JSON POSTs carrying the X-Parts-Review header the server requires of them.
 * Capture: a phone camera (file input with capture="environment") or a webcam (getUserMedia),
 * filed into the queue or labelled at once. The retrain job's state is polled, so progress shows
 * live and again after a reload.
 */
export function renderReviewPage(): string {
  return PAGE.replace('{{SHARE}}', `${Math.round(SAMPLE_SHARE * 100)}%`).replace('{{MARGIN}}', String(CONFIDENT_MARGIN));
}

/** What /review shows when the server records nothing (serve --no-log). */
export function renderLogOffPage(): string {
  return /* html */ `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Review — Parts classifier</title>
<style>body { margin:0; font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:#f5f6f8; color:#1d2330; } main { max-width:760px; margin:0 auto; padding:16px; }</style></head>
<body><main>
  <h1>Review</h1>
  <p id="log-off">The prediction log is off (the server was started with <code>--no-log</code>): no photos are recorded, so there is nothing to review.
    Start <code>pnpm serve</code> without <code>--no-log</code> to record the answered photos and review them here.</p>
  <p><a href="/">Upload page</a></p>
</main></body>
</html>
`;
}

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Review — Parts classifier</title>
<style>
  :root { --bg:#f5f6f8; --card:#fff; --ink:#1d2330; --muted:#667085; --line:#e3e6ec; --accent:#2f6fed; --bad:#c0392b; }
  * { box-sizing:border-box; }
  body { margin:0; font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
  main { max-width:900px; margin:0 auto; padding:16px; }
  h1 { font-size:1.4rem; margin:8px 0 2px; } h2 { font-size:1.1rem; margin:18px 0 6px; }
  .muted { color:var(--muted); font-size:.9rem; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:14px; padding:12px; margin:10px 0; }
  .btn { background:var(--accent); color:#fff; border:0; border-radius:10px; padding:8px 14px; font:inherit; font-weight:600; cursor:pointer; margin:2px; }
  .btn.ghost { background:#eef3ff; color:var(--accent); }
  .btn:disabled { opacity:.5; cursor:default; }
  kbd { background:#eef0f4; border:1px solid #cfd4dc; border-radius:4px; padding:0 4px; font-size:.8rem; }
  #current .photos { display:flex; flex-wrap:wrap; gap:8px; }
  #current .photos img { width:160px; height:160px; object-fit:cover; border-radius:10px; background:#e9ecf1; }
  #current .overlay img { max-width:100%; border-radius:10px; }
  .answer { font-size:1.3rem; font-weight:700; } .answer.unknown { color:var(--bad); }
  .probs { font-size:.85rem; display:grid; grid-template-columns:auto 1fr; gap:2px 12px; max-width:360px; }
  .error { color:var(--bad); font-weight:600; }
  #toast { min-height:1.5em; }
  #queue-list { list-style:none; padding:0; display:flex; flex-wrap:wrap; gap:6px; }
  #queue-list li { width:64px; height:64px; border-radius:8px; overflow:hidden; border:2px solid transparent; cursor:pointer; position:relative; }
  #queue-list li.on { border-color:var(--accent); }
  #queue-list li img { width:100%; height:100%; object-fit:cover; }
  #queue-list li .n { position:absolute; right:2px; bottom:2px; background:#000a; color:#fff; font-size:.7rem; border-radius:4px; padding:0 3px; }
  video { max-width:100%; border-radius:10px; background:#000; }
  input[type=text] { font:inherit; padding:6px 8px; border:1px solid #cfd4dc; border-radius:8px; }
  pre { white-space:pre-wrap; font-size:.8rem; max-height:12em; overflow:auto; background:#f0f2f5; padding:6px; border-radius:8px; }
  progress { width:100%; }
</style>
</head>
<body>
<main>
  <h1>Review</h1>
  <div class="muted"><a href="/">Upload page</a> · Reviewer <input id="reviewer" type="text" maxlength="64" placeholder="your name" autocomplete="name"></div>
  <p class="muted" id="about">Unknown answers come first, then the smallest margins between the two most probable classes;
    {{SHARE}} of the places go to confident answers (margin at least {{MARGIN}}) drawn at random, because confident mistakes exist.
    Near-identical photos from the same source are grouped: one decision labels the group.</p>
  <div id="logstate" class="muted"></div>
  <div id="toast" role="status"></div>

  <section class="card" id="current" aria-live="polite"><p class="muted">Loading the queue…</p></section>
  <div id="actions" class="card">
    <div><button class="btn" id="confirm" type="button">Confirm <kbd>c</kbd></button>
      <span id="classes"></span>
      <button class="btn ghost" id="notpart" type="button">Not a part <kbd>n</kbd></button>
      <button class="btn ghost" id="badphoto" type="button">Bad photo <kbd>b</kbd></button>
      <button class="btn ghost" id="undo" type="button">Undo <kbd>u</kbd></button></div>
    <div style="margin-top:6px"><label>New class <kbd>a</kbd> <input id="newclass" type="text" maxlength="40" placeholder="e.g. nut"></label>
      <button class="btn ghost" id="newclass-go" type="button">Label as new class</button>
      <span class="muted">Next / previous: <kbd>j</kbd> <kbd>k</kbd></span></div>
  </div>
  <ul id="queue-list"></ul>

  <h2>Capture</h2>
  <div class="card">
    <label class="btn ghost" for="capture-file">Take or choose a photo</label>
    <input id="capture-file" type="file" accept="image/*" capture="environment" hidden>
    <button class="btn ghost" id="webcam" type="button">Use webcam</button>
    <button class="btn" id="snap" type="button" hidden>Take photo</button>
    <label class="muted">File into <select id="capture-label"><option value="">the review queue</option></select></label>
    <label class="muted">Source <input id="capture-source" type="text" maxlength="64" value="capture"></label>
    <div><video id="video" autoplay playsinline muted hidden></video></div>
    <div id="capture-status" class="muted"></div>
  </div>

  <h2>Retrain</h2>
  <div class="card">
    <button class="btn" id="retrain" type="button">Retrain on the reviewed photos</button>
    <div id="job" class="muted"></div>
  </div>
</main>
<script>
(() => {
  const $ = (s) => document.querySelector(s);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; };
  const pct = (p) => (p * 100).toFixed(1) + '%';
  const reviewerBox = $('#reviewer');
  // Signed in: the server adds the session's CSRF token and the account name (decisions go under it).
  const meta = (n) => { const m = document.querySelector('meta[name="' + n + '"]'); return m ? m.content : null; };
  const CSRF = meta('csrf-token') ? { 'X-CSRF-Token': meta('csrf-token') } : {};
  reviewerBox.value = localStorage.getItem('parts.reviewer') || '';
  if (meta('parts-user')) { reviewerBox.value = meta('parts-user'); reviewerBox.disabled = true; }
  reviewerBox.addEventListener('change', () => localStorage.setItem('parts.reviewer', reviewerBox.value.trim()));
  let groups = [], labels = [], at = 0; const undoStack = [];

  function toast(msg, bad) { const t = $('#toast'); t.textContent = msg; t.className = bad ? 'error' : ''; }
  async function post(url, body) {
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Parts-Review': '1', ...CSRF }, body: JSON.stringify(body) });
    const data = await res.json().catch(() => ({ error: 'HTTP ' + res.status }));
    if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
    return data;
  }
  function reviewer() {
    const r = reviewerBox.value.trim();
    if (!r) { reviewerBox.focus(); throw new Error('Enter your name as reviewer first'); }
    localStorage.setItem('parts.reviewer', r); return r;
  }

  async function load() {
    const res = await fetch('/api/review/queue?limit=60');
    const q = await res.json();
    if (!res.ok) { $('#current').textContent = q.error || 'queue unavailable'; return; }
    groups = q.groups; labels = q.labels.concat(q.newClasses);
    const s = q.log;
    $('#logstate').textContent = q.pending + ' photos waiting · log: ' + s.recorded + ' recorded, ' + s.failed + ' failed to record since start' +
      (s.lastError ? ' (last: ' + s.lastError + ')' : '');
    $('#logstate').className = s.failed ? 'error' : 'muted';
    const cls = $('#classes'); cls.textContent = '';
    labels.slice(0, 9).forEach((l, i) => { const b = el('button', 'btn ghost', l + ' '); b.type = 'button'; b.dataset.label = l; b.append(el('kbd', null, String(i + 1)));
      b.addEventListener('click', () => act('correct', l)); cls.append(b); });
    const sel = $('#capture-label'); const keep = sel.value; sel.length = 1;
    for (const l of labels) { const o = el('option', null, l); o.value = l; sel.append(o); }
    sel.value = keep;
    at = Math.min(at, Math.max(0, groups.length - 1)); render();
  }

  function render() {
    const cur = $('#current'); cur.textContent = '';
    const list = $('#queue-list'); list.textContent = '';
    groups.forEach((g, i) => { const li = el('li'); if (i === at) li.className = 'on';
      const img = el('img'); img.src = '/api/review/photo?hash=' + g.items[0].hash; img.alt = ''; li.append(img);
      if (g.items.length > 1) li.append(el('span', 'n', '×' + g.items.length));
      li.addEventListener('click', () => { at = i; render(); }); list.append(li); });
    const g = groups[at];
    for (const b of document.querySelectorAll('#actions button:not(#undo)')) b.disabled = !g;
    if (!g) { cur.append(el('p', 'muted', 'Nothing to review.')); return; }
    const it = g.items[0];
    cur.dataset.ids = g.items.map((x) => x.id).join(',');
    const reason = { unknown: 'Not recognised', uncertain: 'Small margin', sample: 'Random confident answer (sample)' }[g.reason];
    cur.append(el('div', 'muted', (at + 1) + ' of ' + groups.length + ' · ' + reason + (g.items.length > 1 ? ' · group of ' + g.items.length + ' near-identical photos' : '') +
      ' · source ' + (it.source || '(none)') + ' · ' + it.loggedAt + ' · model ' + it.modelId));
    const photos = el('div', 'photos');
    for (const x of g.items) { const img = el('img'); img.src = '/api/review/photo?hash=' + x.hash; img.alt = 'photo ' + x.id; photos.append(img); }
    cur.append(photos);
    cur.append(el('div', 'answer' + (it.unknown ? ' unknown' : ''), it.unknown ? 'Not recognised — closest: ' + it.top + ', ' + pct(it.probability) : it.label + ' ' + pct(it.probability)));
    const probs = el('div', 'probs');
    for (const [k, v] of Object.entries(it.probabilities).sort((a, b) => b[1] - a[1])) probs.append(el('span', null, k), el('span', null, pct(v)));
    cur.append(probs, el('div', 'muted', 'margin ' + it.margin.toFixed(3) + (it.ood ? ' · OOD ' + it.ood.method + ' score ' + (+it.ood.score.toPrecision(4)) + ' (threshold ' + (+it.ood.threshold.toPrecision(4)) + ')' : '')));
    const ov = el('figure', 'overlay'); ov.append(el('figcaption', 'muted', 'Loading what the model looked at…')); cur.append(ov);
    fetch('/api/review/explain?hash=' + it.hash).then((r) => r.json()).then((x) => {
      ov.textContent = '';
      if (x.explanation && x.explanation.overlay) { const img = el('img'); img.src = x.explanation.overlay; img.alt = 'Grad-CAM for ' + x.top; ov.append(img,
        el('figcaption', 'muted', 'Red: what weighed most for ' + x.top + ' (Grad-CAM of the model now served, ' + x.model + ')')); }
      else ov.append(el('figcaption', 'muted', 'No overlay: ' + ((x.explanation && x.explanation.error) || x.error || 'unavailable')));
    }).catch(() => { ov.textContent = ''; });
  }

  async function act(action, label) {
    const g = groups[at]; if (!g) return;
    try {
      const r = await post('/api/review/decide', { ids: g.items.map((x) => x.id), action, label, reviewer: reviewer() });
      undoStack.push(r.batch);
      toast('Labelled ' + r.decisions.length + ' photo' + (r.decisions.length > 1 ? 's' : '') + ' as ' + r.decisions[0].label + ' — press u to undo');
      groups.splice(at, 1); if (at >= groups.length) at = Math.max(0, groups.length - 1); render();
      if (groups.length < 5) load();
    } catch (e) { toast(e.message, true); }
  }
  async function undo() {
    const batch = undoStack.pop(); if (!batch) { toast('Nothing to undo'); return; }
    try { const r = await post('/api/review/undo', { batch, reviewer: reviewer() }); toast('Undone: ' + r.decisions.length + ' decision(s)'); await load(); }
    catch (e) { toast(e.message, true); }
  }
  function newClass() { const v = $('#newclass').value.trim(); if (!v) { $('#newclass').focus(); return; } act('new-class', v).then(() => { $('#newclass').value = ''; $('#newclass').blur(); }); }

  $('#confirm').addEventListener('click', () => act('confirm'));
  $('#notpart').addEventListener('click', () => act('not-a-part'));
  $('#badphoto').addEventListener('click', () => act('bad-photo'));
  $('#undo').addEventListener('click', undo);
  $('#newclass-go').addEventListener('click', newClass);
  $('#newclass').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); newClass(); } if (e.key === 'Escape') e.target.blur(); });
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (k === 'c') act('confirm');
    else if (k === 'n') act('not-a-part');
    else if (k === 'b') act('bad-photo');
    else if (k === 'u') undo();
    else if (k === 'a') { e.preventDefault(); $('#newclass').focus(); }
    else if (k === 'j' || k === 'ArrowRight') { at = Math.min(at + 1, Math.max(0, groups.length - 1)); render(); }
    else if (k === 'k' || k === 'ArrowLeft') { at = Math.max(0, at - 1); render(); }
    else if (/^[1-9]$/.test(k) && labels[+k - 1]) act('correct', labels[+k - 1]);
  });

  // Capture: the photo goes through /api/predict (so it is logged like any camera's), then is labelled at once if a class was chosen.
  async function file(blob, name) {
    const st = $('#capture-status'); st.textContent = 'Classifying…'; st.className = 'muted';
    try {
      const form = new FormData(); form.append('source', $('#capture-source').value.trim() || 'capture'); form.append('image', blob, name);
      const res = await fetch('/api/predict', { method: 'POST', body: form, headers: CSRF });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
      const ids = (res.headers.get('X-Prediction-Log') || '').split(',').filter(Boolean).map(Number);
      const answer = data.unknown ? 'not recognised (closest ' + data.top + ')' : data.label + ' ' + pct(data.probability);
      const label = $('#capture-label').value;
      if (!ids.length) { st.textContent = 'Answered ' + answer + ', but the photo was not logged (see the log state above)'; st.className = 'error'; return; }
      if (label) { await post('/api/review/decide', { ids, action: 'capture', label, reviewer: reviewer() }); st.textContent = 'Answered ' + answer + '; labelled ' + label; }
      else st.textContent = 'Answered ' + answer + '; filed into the review queue';
      await load();
    } catch (e) { st.textContent = e.message; st.className = 'error'; }
  }
  $('#capture-file').addEventListener('change', (e) => { const f = e.target.files[0]; if (f) file(f, f.name); e.target.value = ''; });
  $('#webcam').addEventListener('click', async () => {
    const v = $('#video');
    try { v.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }); v.hidden = false; $('#snap').hidden = false; }
    catch (e) { $('#capture-status').textContent = 'No camera: ' + e.message; }
  });
  $('#snap').addEventListener('click', () => {
    const v = $('#video'); const c = document.createElement('canvas'); c.width = v.videoWidth || 640; c.height = v.videoHeight || 480;
    c.getContext('2d').drawImage(v, 0, 0, c.width, c.height);
    c.toBlob((b) => { if (b) file(b, 'webcam.jpg'); }, 'image/jpeg', 0.92);
  });

  // Retrain: one job at a time; its state lives on the server, so a reload picks it up.
  let polling = null;
  function showJob(j) {
    const box = $('#job'); box.textContent = '';
    $('#retrain').disabled = !!j && j.state === 'running';
    if (!j) { box.textContent = 'No retrain has run yet.'; return; }
    box.append(el('div', j.state === 'failed' || j.state === 'cancelled' ? 'error' : null, 'Retrain ' + j.state + ' (started ' + j.startedAt + (j.endedAt ? ', ended ' + j.endedAt : '') + ')' + (j.error ? ': ' + j.error : '')));
    if (j.state === 'running') { const p = el('progress'); if (j.progress.fraction != null) p.value = j.progress.fraction; box.append(p); }
    if (j.progress.message) box.append(el('div', null, j.progress.message));
    if (j.output.length) box.append(el('pre', null, j.output.slice(-12).join('\\n')));
  }
  async function pollJob() {
    try { const r = await fetch('/api/review/retrain'); const d = await r.json(); showJob(d.job);
      clearTimeout(polling); if (d.job && d.job.state === 'running') polling = setTimeout(pollJob, 1000); } catch { /* retried on the next action */ }
  }
  $('#retrain').addEventListener('click', async () => { try { const r = await post('/api/review/retrain', {}); showJob(r.job); pollJob(); } catch (e) { toast(e.message, true); } });

  load(); pollJob();
})();
</script>
</body>
</html>
`;
