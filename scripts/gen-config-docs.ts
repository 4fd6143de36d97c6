/**
 * Writes docs/configuration.md from src/config/schema.ts (one table per section: key, type, default,
 * description). With --check, writes nothing and exits 1 when the file is stale.
 *   node --import tsx scripts/gen-config-docs.ts [--check]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_SCHEMA, NAME_PATTERN, type SchemaNode } from '../src/config/schema.js';

const target = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

/** Table cells: pipes end a cell, "<" starts HTML, "_" and "*" start emphasis. */
const cell = (s: string): string => prose(s.replace(/\s+/g, ' ').replace(/\|/g, '\\|'));
const prose = (s: string): string => s.replace(/[_*]/g, (c) => `\\${c}`).replace(/</g, '&lt;');

function deref(node: SchemaNode): SchemaNode {
  const name = node.$ref?.replace('#/$defs/', '');
  return name ? (CONFIG_SCHEMA.$defs?.[name] ?? node) : node;
}

function typeOf(node: SchemaNode): string {
  if (node.const !== undefined) return `"${node.const}"`;
  if (node.enum) return node.enum.map((v) => `"${v}"`).join(' | ');
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'any'}`;
  if (node.type === 'object' && typeof node.additionalProperties === 'object') return `map of ${typeOf(node.additionalProperties)}`;
  if (node.type === 'object') return 'mapping';
  return node.type ?? 'any';
}

function defaultOf(node: SchemaNode, required: boolean): string {
  if (required) return '**required**';
  if (node.default === undefined) return '—';
  return '`' + JSON.stringify(node.default) + '`';
}

/** Leaf rows; closed nested objects (restart, sqlite) are flattened into dotted keys. */
function rows(node: SchemaNode, prefix: string): string[] {
  const out: string[] = [];
  for (const [key, raw] of Object.entries(node.properties ?? {})) {
    const prop = deref(raw);
    const path = `${prefix}${key}`;
    if (prop.type === 'object' && prop.properties && prop.additionalProperties === false) {
      out.push(...rows(prop, `${path}.`));
      continue;
    }
    const required = node.required?.includes(key) ?? false;
    out.push(`| \`${path}\` | ${cell(typeOf(prop))} | ${defaultOf(prop, required)} | ${cell(prop.description ?? '')} |`);
  }
  return out;
}

function table(node: SchemaNode, prefix: string): string {
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows(node, prefix)].join('\n');
}

function section(name: string, node: SchemaNode): string {
  const head = `## \`${name}\`\n\n${prose(node.description ?? '')}\n\n`;
  // A list of rules (rateLimits, quotas, priorities): one table for the keys of each item.
  if (node.type === 'array' && node.items?.properties) return head + `A list; each item takes these keys.\n\n` + table(node.items, `${name}[].`);
  const entry = typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
  if (!entry) return head + table(node, `${name}.`);
  const names = `Keys are names: \`${NAME_PATTERN}\` (letters, digits and \`-\`; no \`_\` or \`.\`, which tool namespacing reserves).\n\n`;
  if (!entry.oneOf) return head + names + table(entry, `${name}.<name>.`);
  const branches = entry.oneOf.map(deref).map((b) => {
    const tag = b.properties?.transport?.const ?? '?';
    return `### \`transport: ${tag}\`\n\n${prose(b.description ?? '')}\n\n${table(b, `${name}.<name>.`)}`;
  });
  return head + names + `\`transport\` selects the kind of upstream; each kind accepts its own keys.\n\n` + branches.join('\n\n');
}

function render(): string {
  const sections = Object.entries(CONFIG_SCHEMA.properties ?? {}).map(([name, node]) => section(name, node));
  return `# Configuration reference

<!-- Generated from src/config/schema.ts by scripts/gen-config-docs.ts. Do not edit by hand. -->

Portcullis reads \`portcullis.yaml\` from the current folder (\`--config FILE\` chooses another). \`portcullis init\`
writes a commented starter; \`portcullis check\` validates a file and reports every problem with its line and column.
The same rules are published as a JSON Schema, \`portcullis.schema.json\`: editors that honour the first line
\`# yaml-language-server: $schema=./portcullis.schema.json\` complete and document every key.

Rules that apply everywhere:

- **Unknown keys are errors**, with a suggestion when the key looks like a misspelling.
- **Every section is optional**; omitted keys take the defaults below, and an empty file is a valid configuration.
- **Environment variables**: string values may contain \`\${VAR}\` (an error if \`VAR\` is not set) or \`\${VAR:-default}\`
  (the default when \`VAR\` is unset or empty). \`$\${\` writes a literal \`\${\`. Keys are never interpolated. Substitution
  happens after parsing, so a value can never change the structure of the file. A substituted value is converted to a
  number or boolean where the key expects one (\`port: \${PORT:-8080}\`). Inside \`[ ]\` or \`{ }\`, quote the value.
- **Relative paths** (\`server.dataDir\`, \`storage.sqlite.path\`, an upstream's \`cwd\`) are resolved against the
  folder of the configuration file.
- **Security**: \`auth.mode: none\` is accepted only when \`server.host\` is a loopback address (127.0.0.0/8, ::1, localhost).

${sections.join('\n\n')}
`;
}

const wanted = render();
let current: string | undefined;
try {
  current = readFileSync(target, 'utf8');
} catch {
  current = undefined;
}

if (process.argv.includes('--check')) {
  if (current !== wanted) {
    console.error(`${target} is stale; regenerate it with: node --import tsx scripts/gen-config-docs.ts`);
    process.exit(1);
  }
  console.log(`${target} is up to date`);
} else if (current !== wanted) {
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, wanted);
  console.log(`wrote ${target}`);
}
