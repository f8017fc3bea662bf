// Parse Mermaid diagrams with Mermaid's own parser (the one GitHub renders with), offline.
// Usage: node check.mjs FILE...   (.md files: every ```mermaid block; other files: the whole file)
// Exit 0 when every diagram parses; 1 otherwise, naming each file, block and error.
import fs from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  const blocks = file.endsWith(".md")
    ? [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1])
    : [text];
  for (const [index, block] of blocks.entries()) {
    try {
      await mermaid.parse(block);
      console.log(`ok ${file} #${index}`);
    } catch (error) {
      failed += 1;
      const message = String(error?.message ?? error).split("\n").slice(0, 4).join(" | ");
      console.log(`FAIL ${file} #${index}: ${message}`);
    }
  }
}
process.exit(failed ? 1 : 0);
