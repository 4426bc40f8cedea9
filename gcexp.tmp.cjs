const pprof = require('@datadog/pprof');
const { PerformanceObserver, performance } = require('perf_hooks');
const [mode, prof] = process.argv.slice(2);
if (mode !== 'off') pprof.heap.start(512 * 1024, 64, mode === 'alloc');
let gcs = 0, gcMs = 0; const kinds = {};
new PerformanceObserver((l) => { for (const e of l.getEntries()) { gcs++; gcMs += e.duration; kinds[e.detail.kind] = (kinds[e.detail.kind] ?? 0) + 1; } }).observe({ entryTypes: ['gc'] });
const cache = new Map();
function request(i) { // some garbage and some medium-lived data
  const o = { id: i, headers: Object.fromEntries(Array.from({ length: 20 }, (_, k) => ['h' + k, 'v' + i + k])), body: JSON.stringify({ i, arr: Array.from({ length: 50 }, (_, k) => k * i) }) };
  cache.set(i % 20000, o); return JSON.parse(o.body).arr.length;
}
for (let i = 0; i < 100000; i++) request(i);
let profMs = 0, profN = 0;
const t0 = process.cpuUsage(); const w0 = performance.now(); let next = w0 + 500;
let i = 0;
while (performance.now() - w0 < 8000) {
  for (let k = 0; k < 200; k++) request(i++);
  if (prof && performance.now() > next) { const s = performance.now(); pprof.heap.profile(); profMs += performance.now() - s; profN++; next += 500; }
}
setTimeout(() => {
const c = process.cpuUsage(t0);
console.log(mode, prof ? 'profile/0.5s' : 'no profile', 'requests/ms', (i / 8000).toFixed(0), 'cpu s', ((c.user + c.system) / 1e6).toFixed(1), 'gcs', gcs, 'gc ms', gcMs.toFixed(0), JSON.stringify(kinds), 'profile ms avg', (profMs / Math.max(1, profN)).toFixed(1), 'heap MB', (process.memoryUsage().heapUsed / 2 ** 20).toFixed(0));
}, 10);
