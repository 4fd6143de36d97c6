/**
 * Walking the strings of a JSON value the way the model sees them: every string, by JSON path, except base64
 * payloads (`blob`, and `data` of image/audio content), which are not text the model reads.
 */
import { childPath } from './jsonPath.js';

const BINARY_CONTENT = new Set(['image', 'audio']);

function isBinaryPayload(obj: Record<string, unknown>, key: string): boolean {
  return key === 'blob' || (key === 'data' && typeof obj.type === 'string' && BINARY_CONTENT.has(obj.type));
}

export function walkStrings(node: unknown, path: string, visit: (text: string, path: string) => void): void {
  if (typeof node === 'string') { visit(node, path); return; }
  if (Array.isArray(node)) { node.forEach((el, i) => walkStrings(el, childPath(path, i), visit)); return; }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (!isBinaryPayload(obj, key)) walkStrings(value, childPath(path, key), visit);
  }
}

/** A copy of the value with each walked string replaced by `map(text, path)`; everything else is shared. */
export function mapStrings(node: unknown, path: string, map: (text: string, path: string) => string): unknown {
  if (typeof node === 'string') return map(node, path);
  if (Array.isArray(node)) return node.map((el, i) => mapStrings(el, childPath(path, i), map));
  if (typeof node !== 'object' || node === null) return node;
  const obj = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) out[key] = isBinaryPayload(obj, key) ? value : mapStrings(value, childPath(path, key), map);
  return out;
}
