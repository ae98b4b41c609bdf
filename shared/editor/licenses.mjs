// Writes ../static/editor/LICENSES.txt: the licence of every npm package bundled into
// editor.min.js (read from esbuild's metafile), so the committed build carries them.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const meta = JSON.parse(readFileSync("../static/editor/meta.json", "utf8"));
const packages = new Map();
for (const input of Object.keys(meta.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) packages.set(match[1], join("node_modules", match[1]));
}
const parts = [];
for (const [name, dir] of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt", "license", "LICENCE"]
    .map((f) => join(dir, f))
    .find((f) => existsSync(f));
  const text = file ? readFileSync(file, "utf8").trim() : `(${pkg.license}; no licence file in the package)`;
  parts.push(`${name}@${pkg.version} (${pkg.license})\n\n${text}\n`);
}
writeFileSync("../static/editor/LICENSES.txt", parts.join("\n" + "-".repeat(72) + "\n\n"));
