'use strict';
// The native addon, @datadog/pprof, with the modules below its public API that the profiler uses: loaded on
// first use, never at import time. A failed load (no prebuilt binary for this platform, a broken install) is
// kept and handed back, never thrown: the profiler then logs it once and the application runs unprofiled.
// Plain CommonJS (not TypeScript) so that both the ES module and the CommonJS builds can load it lazily with
// `require`. Types: addon.d.cts.
let loaded;

exports.loadAddon = function loadAddon() {
  if (loaded === undefined) {
    try {
      loaded = {
        pprof: require('@datadog/pprof'),
        acf: require('@datadog/pprof/out/src/async-context-frame.js'),
        timeProfiler: require('@datadog/pprof/out/src/time-profiler-bindings.js'),
        serializer: require('@datadog/pprof/out/src/profile-serializer.js'),
        heapProfiler: require('@datadog/pprof/out/src/heap-profiler-bindings.js'),
      };
    } catch (error) {
      loaded = { error };
    }
  }
  return loaded;
};

// Where an installed package is, resolved from this package (for the view's speedscope assets): `require.resolve`
// from here works the same in both builds.
exports.resolvePackage = function resolvePackage(id) {
  return require.resolve(id);
};

// The file a worker thread is started with (`--require`) to sample itself for the main thread's profiler: it
// sits beside this one in both builds.
exports.workerEntryPath = function workerEntryPath() {
  return require('node:path').join(__dirname, 'worker-entry.cjs');
};
