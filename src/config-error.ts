/** Thrown for a bad option or environment value; the message names the option and the value. */
export class ProfilerConfigError extends TypeError {
  override name = 'ProfilerConfigError';
}
