// The view's page: controls and the top table (ours), the flame graph (speedscope, in a frame). The URL carries
// the filters (`/?type=cpu&span=<local root span id>`), so a trace UI can link straight to one request.
export const VIEW_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>blackfire-otel-profiler view</title>
<style>
  body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: #1d2230; display: grid; grid-template-rows: auto 1fr; height: 100vh; }
  header { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; padding: 8px 12px; background: #f3f4f8; border-bottom: 1px solid #d8dbe5; }
  label { display: flex; flex-direction: column; font-size: 11px; color: #556; }
  input, select { font: inherit; padding: 3px 6px; border: 1px solid #b9bdcc; border-radius: 4px; min-width: 9em; max-width: 24em; }
  main { display: grid; grid-template-columns: minmax(320px, 28%) 1fr; min-height: 0; }
  #side { overflow: auto; border-right: 1px solid #d8dbe5; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { padding: 3px 8px; text-align: right; border-bottom: 1px solid #eceef4; }
  th:last-child, td:last-child { text-align: left; }
  td.fn { font-family: ui-monospace, monospace; word-break: break-all; }
  #status { padding: 6px 8px; color: #556; }
  #status.error { color: #a3261b; }
  iframe { width: 100%; height: 100%; border: 0; }
</style>
</head>
<body>
<header>
  <strong>blackfire-otel-profiler</strong>
  <label>dimension <select id="type"></select></label>
  <label>span id / local root span id <input id="span" placeholder="hex or decimal"></label>
  <label>trace id <input id="trace" placeholder="32 hex digits"></label>
  <label>endpoint <input id="endpoint" placeholder="GET /orders/:id"></label>
  <label>thread <input id="thread" placeholder="0, Main, pool-1"></label>
  <label>period <select id="period"><option value="">all, merged</option></select></label>
  <label>since <input id="since" placeholder="2026-12-01T13:06:51Z"></label>
  <label>until <input id="until" placeholder="ISO time or epoch ms"></label>
  <label>function <input id="search" placeholder="search the table"></label>
</header>
<main>
  <section id="side"><div id="status">loading...</div><table id="top"><thead><tr><th>self</th><th>total</th><th>function</th></tr></thead><tbody></tbody></table></section>
  <iframe id="flame" title="flame graph (speedscope)"></iframe>
</main>
<script>
const $ = (id) => document.getElementById(id);
const filters = ['type', 'span', 'trace', 'endpoint', 'thread', 'since', 'until'];
const fields = [...filters, 'search'];
const params = new URLSearchParams(location.search);
for (const f of fields) if (params.get(f)) $(f).value = params.get(f);
function query() {
  const q = new URLSearchParams();
  for (const f of filters) if ($(f).value.trim()) q.set(f, $(f).value.trim());
  return q;
}
function fmt(v, type) {
  if (/^(cpu|wall)/.test(type)) return v >= 1e9 ? (v / 1e9).toFixed(2) + ' s' : (v / 1e6).toFixed(1) + ' ms';
  if (/space$/.test(type)) return v >= 2 ** 20 ? (v / 2 ** 20).toFixed(1) + ' MB' : (v / 1024).toFixed(0) + ' kB';
  return String(v);
}
let rows = [];
function renderTable() {
  const needle = $('search').value.trim().toLowerCase();
  const type = $('type').value || 'cpu';
  const body = $('top').tBodies[0];
  body.replaceChildren(...rows.filter((r) => !needle || r.name.toLowerCase().includes(needle)).map((r) => {
    const tr = document.createElement('tr');
    for (const [text, cls] of [[fmt(r.self, type)], [fmt(r.total, type)], [r.name + (r.file ? '  ' + r.file : ''), 'fn']]) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  }));
}
async function refresh() {
  const q = query();
  const page = new URLSearchParams(q);
  if ($('search').value.trim()) page.set('search', $('search').value.trim());
  history.replaceState(null, '', '?' + page);
  const status = $('status');
  try {
    const answer = await fetch('/api/top?' + q + '&limit=100');
    const top = await answer.json();
    if (!answer.ok) throw new Error(top.error);
    rows = top.rows;
    status.className = '';
    renderTable();
    if (top.waiting) {
      status.textContent = 'no upload yet: waiting for the first one';
      $('flame').removeAttribute('src');
      return;
    }
    status.textContent = fmt(top.total, top.type) + ' of ' + top.type + ' in the selection';
    const profileURL = '/api/speedscope?' + q;
    $('flame').src = '/speedscope/index.html#profileURL=' + encodeURIComponent(profileURL) + '&title=' + encodeURIComponent(top.type);
  } catch (error) {
    rows = [];
    renderTable();
    status.className = 'error';
    status.textContent = String(error.message || error);
  }
}
let files = -1;
let periods = [];
function showPeriods() {
  const chosen = periods.find((p) => String(p.startMillis) === $('since').value && String(p.endMillis) === $('until').value);
  $('period').replaceChildren(new Option('all, merged (' + periods.length + ')', ''), ...periods.map((p, i) =>
    new Option('#' + (i + 1) + ' ' + new Date(p.startMillis).toISOString().slice(11, 19) + '-' + new Date(p.endMillis).toISOString().slice(11, 19) + ' ' + p.period, String(i), false, p === chosen)));
}
async function summary() {
  const answer = await (await fetch('/api/summary')).json();
  periods = answer.periods || [];
  const wanted = $('type').value || params.get('type') || 'cpu';
  $('type').replaceChildren(...(answer.types || []).filter((t) => t !== 'sample').map((t) => new Option(t, t, false, t === wanted)));
  showPeriods();
  const changed = answer.files !== files;
  files = answer.files;
  return changed;
}
(async () => {
  await summary();
  for (const f of filters) $(f).addEventListener('change', () => { showPeriods(); refresh(); });
  $('period').addEventListener('change', () => {
    const p = periods[Number($('period').value)];
    $('since').value = p ? String(p.startMillis) : '';
    $('until').value = p ? String(p.endMillis) : '';
    refresh();
  });
  $('search').addEventListener('input', () => {
    renderTable();
    const page = new URLSearchParams(location.search);
    page.set('search', $('search').value.trim());
    history.replaceState(null, '', '?' + page);
  });
  refresh();
  // Live: new uploads (the stand-in agent's, a file exporter's) show up without reloading the page.
  setInterval(async () => {
    try {
      if (await summary()) refresh();
    } catch {}
  }, 3000);
})();
</script>
</body>
</html>
`;
