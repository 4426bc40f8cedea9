// The stand-in Blackfire Agent as a user runs it: the installed package's CLI (`blackfire-otel-profiler agent`),
// on a unix socket, writing each upload to a folder; plus readers for what it wrote.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Profile } from 'pprof-format';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The bin link npm made when it installed the packed profiler. */
export const CLI = path.join(here, 'node_modules', '.bin', 'blackfire-otel-profiler');

/** Starts the CLI's agent stand-in; resolves once it listens (at most 15 s). */
export async function startAgent() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-otel3-'));
  const socket = path.join(dir, 'agent.sock');
  const profiles = path.join(dir, 'profiles');
  const child = spawn(process.execPath, [CLI, 'agent', '--listen', `unix://${socket}`, '--dir', profiles], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent stand-in did not listen within 15 s; it said: ${output}`)), 15_000);
    const check = () => {
      if (!output.includes('listening on')) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve();
    };
    child.stdout.on('data', check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`agent stand-in exited (${code ?? signal}) before listening; it said: ${output}`));
    });
  });
  return {
    address: `unix://${socket}`,
    /** What the agent printed so far. */
    output: () => output,
    /** Waits (at most `timeoutMillis`) until the agent has printed `text`; tells whether it did. */
    async printed(text, timeoutMillis = 2_000) {
      for (const deadline = Date.now() + timeoutMillis; !output.includes(text) && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return output.includes(text);
    },
    /** The folders of the uploads written so far, oldest first. */
    uploads: () => (fs.existsSync(profiles) ? fs.readdirSync(profiles).sort().map((name) => path.join(profiles, name)) : []),
    /** Stops the agent (SIGTERM; SIGKILL after 5 s) and removes its folder. */
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An upload folder's event.json and its decoded pprofs (gunzipped). */
export function readUpload(folder) {
  const event = JSON.parse(fs.readFileSync(path.join(folder, 'event.json'), 'utf8'));
  const profiles = {};
  for (const name of event.attachments) {
    const data = fs.readFileSync(path.join(folder, name));
    profiles[name] = Profile.decode(data[0] === 0x1f && data[1] === 0x8b ? zlib.gunzipSync(data) : data);
  }
  return { event, profiles };
}

const str = (profile, index) => profile.stringTable.strings[Number(index)] ?? '';

export function sampleTypesOf(profile) {
  return profile.sampleType.map((t) => `${str(profile, t.type)}/${str(profile, t.unit)}`);
}

/** Function names of a sample's stack, leaf first. */
export function stackOf(profile, sample) {
  const locations = new Map(profile.location.map((l) => [Number(l.id), l]));
  const functions = new Map(profile.function.map((f) => [Number(f.id), f]));
  return sample.locationId.flatMap((id) =>
    (locations.get(Number(id))?.line ?? []).map((line) => str(profile, functions.get(Number(line.functionId))?.name ?? 0)),
  );
}

/** Labels of a sample: string labels as strings, numeric ones as unsigned 64-bit bigints. */
export function labelsOf(profile, sample) {
  const labels = {};
  for (const label of sample.label) {
    labels[str(profile, label.key)] = Number(label.str) !== 0 ? str(profile, label.str) : BigInt.asUintN(64, BigInt(label.num));
  }
  return labels;
}

/** A `span id` / `local root span id` label (unsigned decimal) as the 16-hex span id OpenTelemetry shows. */
export const hex16 = (n) => BigInt.asUintN(64, BigInt(n)).toString(16).padStart(16, '0');
