/** The probe's version, sent as `probe_version`; kept in step with package.json by test/version.test.ts. */
export const PROBE_VERSION = '0.1.0';
