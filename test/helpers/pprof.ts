import type { Profile } from 'pprof-format';
import { sampleTypesOf } from '../../src/agent/upload-check';

export { sampleTypesOf };

const str = (profile: Profile, index: number | bigint): string => profile.stringTable.strings[Number(index)] ?? '';

/** Function names of a sample's stack, leaf first. */
export function stackOf(profile: Profile, locationIds: Array<number | bigint>): string[] {
  const locations = new Map(profile.location.map((l) => [Number(l.id), l]));
  const functions = new Map(profile.function.map((f) => [Number(f.id), f]));
  const names: string[] = [];
  for (const id of locationIds) {
    for (const line of locations.get(Number(id))?.line ?? []) {
      names.push(str(profile, functions.get(Number(line.functionId))?.name ?? 0));
    }
  }
  return names;
}

/** Labels of a sample as a plain object: string labels as strings, numeric ones as unsigned 64-bit bigints. */
export function labelsOf(profile: Profile, sample: Profile['sample'][number]): Record<string, string | bigint> {
  const labels: Record<string, string | bigint> = {};
  for (const label of sample.label) {
    const key = str(profile, label.key);
    labels[key] = Number(label.str) !== 0 ? str(profile, label.str) : BigInt.asUintN(64, BigInt(label.num));
  }
  return labels;
}

/** Sum of `sampleType` over samples whose stack contains `functionName` (inclusive), or whose leaf is it. */
export function totalFor(profile: Profile, sampleType: string, functionName: string, mode: 'inclusive' | 'leaf' = 'inclusive'): number {
  const index = sampleTypesOf(profile).indexOf(sampleType);
  if (index < 0) throw new Error(`profile has no ${sampleType} (has ${sampleTypesOf(profile).join(', ')})`);
  let total = 0;
  for (const sample of profile.sample) {
    const stack = stackOf(profile, sample.locationId);
    const hit = mode === 'leaf' ? stack[0] === functionName : stack.includes(functionName);
    if (hit) total += Number(sample.value[index]);
  }
  return total;
}

export function total(profile: Profile, sampleType: string): number {
  const index = sampleTypesOf(profile).indexOf(sampleType);
  if (index < 0) throw new Error(`profile has no ${sampleType}`);
  return profile.sample.reduce((sum, s) => sum + Number(s.value[index]), 0);
}
