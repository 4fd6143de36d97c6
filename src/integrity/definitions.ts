/**
 * Upstream definitions (tools, prompts, resources, resource templates) turned into what admission needs:
 * a pinnable hash per item and the list of every text field the model will read, each with its JSON path.
 *
 * The hash covers everything the server sent for the item (including `_meta`, `annotations`, `execution`), except
 * the fields of a resource that change on their own (`size`, `annotations.lastModified`): pinning is only useful if
 * an unchanged item keeps its hash, and conservative only if every other change moves it.
 */
import { digest } from '../core/canonical.js';
import type { FieldKind, ItemContext } from './finding.js';
import { childPath } from './jsonPath.js';

export type DefinitionKind = ItemContext['kind'];

type Json = unknown;

export interface McpTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: Json;
  outputSchema?: Json;
  annotations?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface McpPromptArgument { name: string; title?: string; description?: string; required?: boolean; [key: string]: unknown }

export interface McpPrompt {
  name: string;
  title?: string;
  description?: string;
  arguments?: McpPromptArgument[];
  [key: string]: unknown;
}

export interface McpResource { uri: string; name: string; title?: string; description?: string; mimeType?: string; [key: string]: unknown }

export interface McpResourceTemplate { uriTemplate: string; name: string; title?: string; description?: string; mimeType?: string; [key: string]: unknown }

export interface ServerDefinitions {
  tools?: readonly McpTool[];
  prompts?: readonly McpPrompt[];
  resources?: readonly McpResource[];
  resourceTemplates?: readonly McpResourceTemplate[];
}

/** One text the model will read, and where it sits in the definition. */
export interface TextField {
  path: string;
  text: string;
  kind: FieldKind;
  /** The schema property or prompt argument the text belongs to. */
  propertyName?: string;
}

export interface DefinitionItem {
  kind: DefinitionKind;
  /** Identity within a server: the tool or prompt name, the resource URI, the template's URI template. */
  key: string;
  /** sha-256 (base64url) of the RFC 8785 canonical JSON of `definition`. */
  hash: string;
  /** The pinned surface: the item as sent, minus the self-changing resource fields. */
  definition: Readonly<Record<string, unknown>>;
  fields: readonly TextField[];
  context: ItemContext;
}

export function toolItem(tool: McpTool): DefinitionItem {
  return makeItem('tool', tool.name, plainCopy(tool), tool.description);
}

export function promptItem(prompt: McpPrompt): DefinitionItem {
  return makeItem('prompt', prompt.name, plainCopy(prompt), prompt.description);
}

export function resourceItem(resource: McpResource): DefinitionItem {
  return makeItem('resource', resource.uri, withoutVolatile(plainCopy(resource)), resource.description);
}

export function resourceTemplateItem(template: McpResourceTemplate): DefinitionItem {
  return makeItem('resourceTemplate', template.uriTemplate, withoutVolatile(plainCopy(template)), template.description);
}

export function definitionsOfServer(defs: ServerDefinitions): DefinitionItem[] {
  return [
    ...(defs.tools ?? []).map(toolItem),
    ...(defs.prompts ?? []).map(promptItem),
    ...(defs.resources ?? []).map(resourceItem),
    ...(defs.resourceTemplates ?? []).map(resourceTemplateItem),
  ];
}

function makeItem(kind: DefinitionKind, key: string, definition: Record<string, unknown>, description: unknown): DefinitionItem {
  const name = typeof definition.name === 'string' ? definition.name : key;
  return {
    kind, key, definition, hash: digest(definition), fields: textFields(kind, definition),
    context: { kind, name, description: typeof description === 'string' ? description : '' },
  };
}

/** A JSON-only deep copy, so later mutation of the server's object cannot change what was pinned. */
function plainCopy(value: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

function withoutVolatile(def: Record<string, unknown>): Record<string, unknown> {
  delete def.size;
  const annotations = def.annotations;
  if (isObject(annotations)) {
    delete annotations.lastModified;
    if (Object.keys(annotations).length === 0) delete def.annotations;
  }
  return def;
}

/** Top-level keys whose text the model never reads (icons are images, often large data: URIs). */
const NOT_MODEL_TEXT = new Set(['icons']);
const TEXT_KINDS: Readonly<Record<string, FieldKind>> = { name: 'name', title: 'title', description: 'description' };

/** Every string the model may read in a definition, with its JSON path. */
export function textFields(kind: DefinitionKind, def: Readonly<Record<string, unknown>>): TextField[] {
  const out: TextField[] = [];
  for (const [key, value] of Object.entries(def)) {
    if (NOT_MODEL_TEXT.has(key)) continue;
    const path = childPath('', key);
    if (key === 'inputSchema' || key === 'outputSchema') walkSchema(value, path, undefined, out);
    else if (kind === 'prompt' && key === 'arguments' && Array.isArray(value)) walkArguments(value, out);
    else if (typeof value === 'string') out.push({ path, text: value, kind: TEXT_KINDS[key] ?? 'value' });
    else walkValue(value, path, undefined, out);
  }
  return out;
}

function walkArguments(args: unknown[], out: TextField[]): void {
  args.forEach((arg, i) => {
    if (!isObject(arg)) return;
    const name = typeof arg.name === 'string' ? arg.name : undefined;
    for (const [key, value] of Object.entries(arg)) {
      const path = childPath(childPath('arguments', i), key);
      if (key === 'name' && typeof value === 'string') out.push({ path, text: value, kind: 'property-name', propertyName: value });
      else if (typeof value === 'string') out.push({ path, text: value, kind: TEXT_KINDS[key] ?? 'value', ...(name !== undefined && { propertyName: name }) });
      else walkValue(value, path, name, out);
    }
  });
}

/** Schema keywords whose values are data, not sub-schemas: walked as plain JSON. */
const VALUE_KEYWORDS = new Set(['default', 'examples', 'const', 'enum']);
/** Keywords whose values are maps from a name to a sub-schema. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
/** Keywords that hold only JSON type names or property names already listed. */
const SKIPPED_KEYWORDS = new Set(['type', 'required']);

function walkSchema(node: unknown, path: string, propertyName: string | undefined, out: TextField[]): void {
  if (typeof node === 'string') { out.push(field(path, node, 'value', propertyName)); return; }
  if (Array.isArray(node)) { node.forEach((el, i) => walkSchema(el, childPath(path, i), propertyName, out)); return; }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    const keyPath = childPath(path, key);
    if (SKIPPED_KEYWORDS.has(key)) continue;
    if (VALUE_KEYWORDS.has(key)) walkValue(value, keyPath, propertyName, out);
    else if (SCHEMA_MAPS.has(key) && isObject(value)) {
      for (const [name, sub] of Object.entries(value)) {
        const subPath = childPath(keyPath, name);
        const isProperty = key === 'properties';
        if (isProperty) out.push(field(subPath, name, 'property-name', name));
        walkSchema(sub, subPath, isProperty ? name : propertyName, out);
      }
    } else if ((key === 'description' || key === 'title') && typeof value === 'string') out.push(field(keyPath, value, key, propertyName));
    else walkSchema(value, keyPath, propertyName, out);
  }
}

function walkValue(node: unknown, path: string, propertyName: string | undefined, out: TextField[]): void {
  if (typeof node === 'string') out.push(field(path, node, 'value', propertyName));
  else if (Array.isArray(node)) node.forEach((el, i) => walkValue(el, childPath(path, i), propertyName, out));
  else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      const kind = TEXT_KINDS[key];
      if (kind && key !== 'name' && typeof value === 'string') out.push(field(childPath(path, key), value, kind, propertyName));
      else walkValue(value, childPath(path, key), propertyName, out);
    }
  }
}

function field(path: string, text: string, kind: FieldKind, propertyName: string | undefined): TextField {
  return propertyName === undefined ? { path, text, kind } : { path, text, kind, propertyName };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
