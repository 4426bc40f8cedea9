// `go tool pprof`, the reference pprof reader, for tests that cross-check what we write. .ci/run installs Go
// (Debian golang-go), so in CI (CI set) a missing `go` fails; elsewhere the tests skip with goMissing's message.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

let scratch: string | undefined;
process.once('exit', () => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function goEnv(): NodeJS.ProcessEnv {
  scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'bf-go-pprof-'));
  // Never download a toolchain, whatever go.mod is around; pprof's own temp files go to the scratch folder.
  const env: NodeJS.ProcessEnv = { ...process.env, GOTOOLCHAIN: 'local', PPROF_TMPDIR: scratch };
  // go needs a build cache folder (Go >= 1.24 builds `go tool pprof` on first use); with no HOME there is none.
  if (!env.GOCACHE && !env.XDG_CACHE_HOME && !env.HOME) env.GOCACHE = path.join(scratch, 'gocache');
  return env;
}

/** A skip message when `go` is absent outside CI; false when the cross-check must run. */
export function goMissing(): string | false {
  if (process.env.CI) return false;
  try {
    execFileSync('go', ['version'], { stdio: 'ignore', env: { ...process.env, GOTOOLCHAIN: 'local' } });
    return false;
  } catch {
    return '`go` is not on PATH: this test reads profiles with `go tool pprof` (Debian: apt-get install golang-go; .ci/run installs it)';
  }
}

/** `go tool pprof <args...>`'s stdout; a clear failure when go is missing or pprof refuses the file. */
export function goPprof(...args: string[]): string {
  const env = goEnv();
  try {
    return execFileSync('go', ['tool', 'pprof', ...args], { cwd: scratch, env, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') assert.fail('`go` is not on PATH: this test reads profiles with `go tool pprof` (Debian: apt-get install golang-go)');
    throw new Error(`go tool pprof ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}
