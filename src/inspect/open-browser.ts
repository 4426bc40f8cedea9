// `--open`: the URL in the user's browser, where one exists. `BROWSER` (as git, Python's webbrowser and many
// CLIs honour it) wins; then the platform's opener. Nothing is waited for, and a missing opener is a line, not
// a failure.
import type { Environment } from '../config.js';
import { spawn } from 'node:child_process';

/** Resolves true once the opener was started, false (with the reason) when there is none. */
export function openBrowser(url: string, env: Environment = process.env): Promise<{ opened: boolean; reason?: string }> {
  const command = env.BROWSER?.trim()
    ? [env.BROWSER.trim()]
    : process.platform === 'darwin' ? ['open']
    : process.platform === 'win32' ? ['cmd', '/c', 'start', '""']
    : ['xdg-open'];
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(command[0]!, [...command.slice(1), url], { stdio: 'ignore', detached: true, shell: false });
    } catch (error) {
      resolve({ opened: false, reason: `${command[0]}: ${(error as Error).message}` });
      return;
    }
    child.once('error', (error) => resolve({ opened: false, reason: `${command[0]}: ${error.message}` }));
    child.once('spawn', () => {
      child.unref();
      resolve({ opened: true });
    });
  });
}
