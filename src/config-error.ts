/** Thrown for a bad option or environment value; the message names the option and the value. */
export class ProfilerConfigError extends TypeError {
  override name = 'ProfilerConfigError';
}

const MAX_SHOWN = 120;

function shorten(text: string): string {
  return text.length <= MAX_SHOWN ? text : `${text.slice(0, MAX_SHOWN)}... (${text.length} characters)`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return shorten(JSON.stringify(value));
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  try {
    return shorten(JSON.stringify(value) ?? String(value));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The error for a bad option or environment value: `<option> must be <expected>, got <value>`. */
export function configError(option: string, value: unknown, expected: string): ProfilerConfigError {
  return new ProfilerConfigError(`blackfire-otel-profiler: ${option} must be ${expected}, got ${describe(value)}`);
}
