import { configError, type ProfilerConfigError } from '../config-error.js';

/** Where the agent listens: a unix socket path, or an HTTP(S) base URL. */
export type AgentAddress =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'http'; url: URL; display: string };

/** The Blackfire Agent's default socket for a platform (the same defaults as Blackfire's probes). */
export function defaultAgentSocket(platform: string, arch: string): string {
  if (platform === 'win32') return 'tcp://127.0.0.1:8307';
  if (platform === 'darwin') {
    return arch === 'arm64'
      ? 'unix:///opt/homebrew/var/run/blackfire-agent.sock'
      : 'unix:///usr/local/var/run/blackfire-agent.sock';
  }
  return 'unix:///var/run/blackfire/agent.sock';
}

/** `sun_path` less its terminating NUL: 107 bytes on Linux, 103 on macOS and the BSDs. */
function maxSocketPathBytes(platform: string = process.platform): number {
  return platform === 'linux' || platform === 'android' ? 107 : 103;
}

function invalid(option: string, value: unknown, why: string): ProfilerConfigError {
  return configError(option, value, `a unix://, tcp://, http:// or https:// address (${why})`);
}

/**
 * Parses an agent address: `unix:///path`, `tcp://host:port` (plain HTTP over TCP), `http://...`, `https://...`.
 * `option` names where the value came from, for the error message.
 */
export function parseAgentAddress(value: unknown, option: string, forListening = false): AgentAddress {
  if (typeof value !== 'string' || value === '') throw invalid(option, value, 'not a non-empty string');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme === 'unix') {
    const socketPath = value.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw invalid(option, value, 'a unix socket needs an absolute path');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(socketPath)) throw invalid(option, value, 'control characters in the socket path');
    const bytes = Buffer.byteLength(socketPath);
    const max = maxSocketPathBytes();
    if (bytes > max) throw invalid(option, value, `the socket path is ${bytes} bytes, more than the ${max} this platform allows`);
    return { kind: 'unix', socketPath, display: value };
  }
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw invalid(option, value, scheme ? `unknown scheme ${scheme}://` : 'no scheme');
  }
  let url: URL;
  try {
    url = new URL(scheme === 'tcp' ? 'http://' + value.slice('tcp://'.length) : value);
  } catch {
    throw invalid(option, value, 'not a valid URL');
  }
  if (!url.hostname) throw invalid(option, value, 'no host');
  if (scheme === 'tcp' && !url.port) throw invalid(option, value, 'tcp:// needs host:port');
  if (url.port === '0' && !forListening) throw invalid(option, value, 'port 0 is not a port one can connect to');
  return { kind: 'http', url, display: value };
}
