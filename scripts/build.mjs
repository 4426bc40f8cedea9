// Builds the dual package: dist/esm (ES modules) and dist/cjs (CommonJS), each with its own type marker.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';

const tsc = (project) => execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { stdio: 'inherit' });
rmSync('dist', { recursive: true, force: true });
tsc('tsconfig.build.json');
tsc('tsconfig.cjs.json');
mkdirSync('dist/esm', { recursive: true });
writeFileSync('dist/esm/package.json', '{ "type": "module" }\n');
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
chmodSync('dist/cjs/cli.js', 0o755);
// Hand-written CommonJS that tsc does not emit: the lazy loader of the native addon, into both builds and the
// test build (build/, compiled next by tsconfig.test.json).
for (const out of ['dist/esm', 'dist/cjs', 'build/src']) {
  mkdirSync(`${out}/collect`, { recursive: true });
  copyFileSync('src/collect/addon.cjs', `${out}/collect/addon.cjs`);
  copyFileSync('src/collect/addon.d.cts', `${out}/collect/addon.d.cts`);
  copyFileSync('src/collect/worker-entry.cjs', `${out}/collect/worker-entry.cjs`);
}
