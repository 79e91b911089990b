// Reads Mermaid diagrams (JSON list of strings) on stdin; prints one line per diagram:
// "ok <diagram type>" or "error <message on one line>". Exit 0 when every diagram parsed.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = false;
for (const text of JSON.parse(input)) {
  try {
    const result = await mermaid.parse(text);
    console.log(`ok ${result.diagramType}`);
  } catch (error) {
    failed = true;
    console.log(`error ${String(error.message || error).replace(/\s+/g, " ")}`);
  }
}
process.exit(failed ? 1 : 0);
