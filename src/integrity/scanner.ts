/**
 * The scanner: runs a configured set of detectors over definition fields (admission) or over the strings of a tool
 * result, resource content or outbound arguments (hot path). Configuration switches detectors off and overrides a
 * rule's severity; an unknown detector id is an error, so a typo cannot silently leave a rule at its default.
 */
import type { DefinitionItem } from './definitions.js';
import { ALL_DETECTORS } from './detectors/index.js';
import { SEVERITIES, type Detector, type FieldContext, type Finding, type Severity, type Target } from './finding.js';
import { walkStrings } from './walk.js';

export interface ScannerOptions {
  /** The detectors to choose from (default: all of them). */
  detectors?: readonly Detector[];
  /** Detector id → false to switch it off (every detector is on unless switched off). */
  enabled?: Readonly<Record<string, boolean>>;
  /** Rule id → the severity its findings get instead of their own. */
  severity?: Readonly<Record<string, Severity>>;
}

export interface DefinitionScanOptions {
  /** Tool names of other servers, for tool-shadowing. */
  knownTools?: Iterable<string>;
}

export interface ItemFindings {
  item: DefinitionItem;
  findings: Finding[];
}

export interface Scanner {
  /** The detectors that are switched on. */
  readonly detectors: readonly Detector[];
  /** Runs every active detector that applies to `field.target` over one text. */
  scanText(text: string, field: FieldContext): Finding[];
  /** Scans every text field of one definition item; paths are relative to the item. */
  scanDefinition(item: DefinitionItem, options?: DefinitionScanOptions): Finding[];
  /** Scans every item of a server's definitions. */
  scanDefinitions(items: readonly DefinitionItem[], options?: DefinitionScanOptions): ItemFindings[];
  /**
   * Scans every string in a JSON value (a tools/call result, resources/read contents, a prompt, outbound arguments).
   * Base64 payloads (`blob`, and `data` of image/audio content) are skipped: they are not text the model reads.
   */
  scanContent(value: unknown, target: Exclude<Target, 'definition'>, path?: string): Finding[];
}

export function createScanner(options: ScannerOptions = {}): Scanner {
  const available = options.detectors ?? ALL_DETECTORS;
  const ids = new Set(available.map((d) => d.id));
  for (const id of [...Object.keys(options.enabled ?? {}), ...Object.keys(options.severity ?? {})]) {
    if (!ids.has(id)) throw new Error(`integrity scanner: unknown detector "${id}" (known: ${[...ids].join(', ')})`);
  }
  for (const [id, s] of Object.entries(options.severity ?? {})) {
    if (!(SEVERITIES as readonly string[]).includes(s)) throw new Error(`integrity scanner: "${id}" has unknown severity "${s}"`);
  }
  const active = available.filter((d) => options.enabled?.[d.id] !== false);
  const byTarget: Record<Target, readonly Detector[]> = {
    definition: active.filter((d) => d.appliesTo.has('definition')),
    result: active.filter((d) => d.appliesTo.has('result')),
    argument: active.filter((d) => d.appliesTo.has('argument')),
  };
  const overrides = options.severity ?? {};

  const scanText = (text: string, field: FieldContext): Finding[] => {
    const found: Finding[] = [];
    for (const detector of byTarget[field.target]) {
      for (const f of detector.scan(text, field)) {
        const override = overrides[f.rule];
        found.push(override ? { ...f, severity: override } : f);
      }
    }
    return found;
  };

  const scanDefinition = (item: DefinitionItem, opts: DefinitionScanOptions = {}): Finding[] => {
    const knownTools = opts.knownTools ? new Set(opts.knownTools) : undefined;
    const found: Finding[] = [];
    for (const f of item.fields) {
      const field: FieldContext = {
        target: 'definition', path: f.path, fieldKind: f.kind, item: item.context,
        ...(f.propertyName !== undefined && { propertyName: f.propertyName }),
        ...(knownTools && { knownTools }),
      };
      found.push(...scanText(f.text, field));
    }
    return found;
  };

  const scanContent = (value: unknown, target: Exclude<Target, 'definition'>, path = ''): Finding[] => {
    const found: Finding[] = [];
    walkStrings(value, path, (text, at) => { found.push(...scanText(text, { target, path: at })); });
    return found;
  };

  return {
    detectors: active,
    scanText,
    scanDefinition,
    scanDefinitions: (items, opts) => items.map((item) => ({ item, findings: scanDefinition(item, opts) })),
    scanContent,
  };
}
