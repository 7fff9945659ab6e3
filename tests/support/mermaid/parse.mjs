// Parse Mermaid diagrams with mermaid's own parser: reads a JSON array of diagram texts on stdin and
// prints a JSON array of {ok, type, error}. mermaid imports DOMPurify, which needs a window: jsdom gives one.
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ ok: true, type: parsed.diagramType, error: null });
  } catch (e) {
    results.push({ ok: false, type: null, error: String(e.message || e) });
  }
}
process.stdout.write(JSON.stringify(results));
