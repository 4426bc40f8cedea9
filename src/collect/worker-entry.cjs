'use strict';
// Preloaded into worker threads (`--require`, added by the main thread's profiler to each new Worker): starts
// the worker's own sampler, which sends each period's profile to the main thread's profiler. Nothing happens
// outside a worker, or when no profiler in the main thread asked for it (the channel variable is unset).
// Plain CommonJS, copied into both builds: the sampler module of the same build is loaded with import().
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { isMainThread } = require('node:worker_threads');

if (!isMainThread && process.env.BLACKFIRE_CONPROF_THREADS_CHANNEL) {
  const sampler = path.join(__dirname, 'worker-sampler.js');
  try {
    // At once, before the worker's own script: the CommonJS build always, the ES module build where Node
    // can require() ES modules.
    require(sampler).startWorkerSampler();
  } catch {
    import(pathToFileURL(sampler).href).then(
      (module) => module.startWorkerSampler(),
      () => {}, // the worker runs unprofiled
    );
  }
}
