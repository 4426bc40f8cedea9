// What `npm pack` ships, and that TypeScript users resolve both entry points with the types, under
// `moduleResolution: node` (node10, which ignores "exports") and node16, without and with @types/node.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/child';

test('npm pack: dist, otel-config/ (the README points to it), LICENSE and README; no tests, sources or scratch', () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const [pack] = JSON.parse(execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ files: Array<{ path: string }>; size: number; unpackedSize: number }>;
  const files = pack!.files.map((f) => f.path);
  for (const wanted of ['LICENSE', 'README.md', 'package.json', 'otel-config/blackfire.env', 'otel-config/otel-config.yaml', 'dist/cjs/index.js', 'dist/esm/register.js', 'dist/cjs/register.d.ts']) {
    assert.ok(files.includes(wanted), `${wanted} is in the tarball`);
  }
  assert.deepEqual(files.filter((f) => /^(src|test|bench|build|examples|profiles|\.scratch|test-artifacts)\//.test(f)), []);
  assert.match(fs.readFileSync(path.join(REPO_ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
});

function consumer(compilerOptions: Record<string, unknown>, withNodeTypes: boolean): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-ts-user-'));
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(REPO_ROOT, path.join(dir, 'node_modules', 'blackfire-otel-profiler'), 'dir');
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', '@opentelemetry'), path.join(dir, 'node_modules', '@opentelemetry'), 'dir');
    if (withNodeTypes) fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'), 'dir');
    fs.writeFileSync(path.join(dir, 'app.ts'), [
      "import { Profiler, type ProfilerOptions } from 'blackfire-otel-profiler';",
      "import { profiler as registered } from 'blackfire-otel-profiler/register';",
      "const options: ProfilerOptions = { applicationName: 'ts-user', periodMillis: 45_000 };",
      'const profiler = new Profiler(options);',
      'profiler.start();',
      'void registered?.stop();',
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'es2022', strict: true, noEmit: true, ...compilerOptions }, files: ['app.ts'] }));
    const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('TypeScript users: both entry points resolve with types under moduleResolution node (typesVersions) and node16', () => {
  // node10 as `tsc --init` would leave a CommonJS project, without @types/node (skipLibCheck is tsc --init's default).
  let r = consumer({ module: 'commonjs', moduleResolution: 'node', types: [], skipLibCheck: true }, false);
  assert.equal(r.status, 0, r.output);
  r = consumer({ module: 'node16', moduleResolution: 'node16', types: ['node'], skipLibCheck: false }, true);
  assert.equal(r.status, 0, r.output);
  // Our public types need nothing of Node's (no NodeJS namespace): without @types/node and skipLibCheck, the
  // only errors are pprof-format's own (its types name Buffer), which the README documents.
  r = consumer({ module: 'commonjs', moduleResolution: 'node', types: [], skipLibCheck: false }, false);
  const errors = r.output.split('\n').filter((line) => /error TS/.test(line));
  assert.ok(errors.length > 0 && errors.every((line) => line.includes('node_modules/pprof-format/')), r.output);
});
