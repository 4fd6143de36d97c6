/**
 * JSON paths as a reviewer reads them: `inputSchema.properties.path.description`, `arguments[0].name`,
 * `_meta["io.example/effects"]` (keys that are not plain identifiers are quoted).
 */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

export function childPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!PLAIN_KEY.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base ? `${base}.${key}` : key;
}
