/** Thrown for a bad option or environment value; the message names the option and the value. */
export class ProfilerConfigError extends TypeError {
  override name = 'ProfilerConfigError';
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The error for a bad option or environment value: `<option> must be <expected>, got <value>`. */
export function configError(option: string, value: unknown, expected: string): ProfilerConfigError {
  return new ProfilerConfigError(`blackfire-otel-profiler: ${option} must be ${expected}, got ${describe(value)}`);
}
