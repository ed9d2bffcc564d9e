#!/usr/bin/env bash
# Every test file loads on a machine without the Debian packages the tests can use (issue 24, item 12):
# in a private mount namespace, empty folders hide Fashion-MNIST, Debian's Python modules (onnx, torch,
# NumPy), Chromium, LLVM (clang, wasm-ld) and the Vulkan drivers, and vitest collects the whole suite
# (imports every file and runs every describe body, as `npm test` does first). A file that reads one of
# them when imported fails here. Needs root (or user namespaces) for unshare; run after `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SOFAR_BARE_INSIDE:-}" != 1 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  exec $SUDO env "PATH=$PATH" SOFAR_BARE_INSIDE=1 unshare --mount --propagation private "$0" "$@"
fi
empty="$(mktemp -d)"
for hidden in /usr/share/datasets /usr/lib/python3/dist-packages /usr/lib/chromium /usr/share/vulkan /usr/lib/llvm-*; do
  [ -d "$hidden" ] && mount --bind "$empty" "$hidden"
done
# The launcher scripts stay, but run nothing.
for launcher in /usr/bin/chromium; do
  [ -e "$launcher" ] && mount --bind /dev/null "$launcher"
done
unset SOFAR_TEST_REQUIRE_ALL
npx vitest list --json="$empty.json" "$@" >/dev/null
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  const files = new Set(r.map((t) => t.file));
  console.log(`collect-bare: ${r.length} tests in ${files.size} files collected with the Debian packages hidden`);
' "$empty.json"
