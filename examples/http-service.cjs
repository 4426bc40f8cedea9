// An HTTP service with the OpenTelemetry NodeSDK, the HTTP instrumentation, a trace exporter and the
// profiler. CommonJS, so that the HTTP instrumentation can patch node:http when it is required.
//   BLACKFIRE_AGENT_SOCKET=unix:///tmp/bf.sock node examples/http-service.cjs
// Spans go to the console (EXAMPLE_SPAN_EXPORTER=console, the default) or to OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set. SIGTERM/SIGINT: sdk.shutdown(), which makes the profiler's final upload.
'use strict';
const { context } = require('@opentelemetry/api');
const { getRPCMetadata, RPCType } = require('@opentelemetry/core');
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BatchSpanProcessor, ConsoleSpanExporter } = require('@opentelemetry/sdk-trace-base');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { Profiler } = require('blackfire-otel-profiler');

function spanExporter() {
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter();
  }
  return new ConsoleSpanExporter();
}

// The three added lines: a Profiler, its span processor in the SDK, and start().
const profiler = new Profiler({ labels: { team: 'checkout' } });
const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': 'checkout', 'service.version': '1.4.2' }),
  spanProcessors: [profiler.spanProcessor(), new BatchSpanProcessor(spanExporter())],
  instrumentations: [new HttpInstrumentation()],
});
sdk.start();
profiler.start();

const http = require('node:http');

/** Sets the low-cardinality route of the request's server span (`http.route`), as a router would. */
function setRoute(route) {
  const metadata = getRPCMetadata(context.active());
  if (metadata?.type === RPCType.HTTP) metadata.route = route;
}

function priceLine(quantity, unitPrice) {
  let total = 0;
  for (let i = 0; i < 2000; i++) total += Math.sqrt(quantity * unitPrice + i) / (i + 1);
  return total;
}

function computeInvoice(orderId) {
  let sum = 0;
  for (let line = 0; line < 400; line++) sum += priceLine(line % 7, orderId + line);
  return sum;
}

function renderSearchResults(query) {
  const items = Array.from({ length: 2000 }, (_, i) => ({ id: i, title: `${query} item ${i}` }));
  return JSON.stringify(items.filter((item) => /7/.test(item.title)));
}

const routes = [
  [/^\/orders\/(\d+)$/, '/orders/:id', async (match) => {
    await new Promise((resolve) => setTimeout(resolve, 2)); // a database call
    return { orderId: match[1], total: computeInvoice(Number(match[1])) };
  }],
  [/^\/search$/, '/search', async () => ({ length: renderSearchResults('shoes').length })],
  [/^\/health$/, '/health', async () => ({ ok: true })],
];

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  for (const [pattern, route, handler] of routes) {
    const match = pattern.exec(url.pathname);
    if (!match) continue;
    setRoute(route);
    const body = JSON.stringify(await handler(match));
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  res.writeHead(404).end();
});

const listen = process.env.PORT ?? '0';
server.listen(Number(listen), '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});

async function shutdown() {
  server.close();
  await sdk.shutdown(); // stops the profiler too: its final upload is made before this resolves
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
