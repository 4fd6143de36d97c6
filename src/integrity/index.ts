/** The integrity library's public surface: definitions, drift, scanning, redaction, verdicts. */
export { SEVERITIES, maxSeverity, severityRank } from './finding.js';
export type { Detector, FieldContext, FieldKind, Finding, ItemContext, Severity, Span, Target } from './finding.js';
export { definitionsOfServer, promptItem, resourceItem, resourceTemplateItem, textFields, toolItem } from './definitions.js';
export type { DefinitionItem, DefinitionKind, McpPrompt, McpPromptArgument, McpResource, McpResourceTemplate, McpTool, ServerDefinitions, TextField } from './definitions.js';
export { compareItems, compareServer, formatDrift } from './drift.js';
export type { ChangeKind, DriftChange, DriftClassification, DriftReport } from './drift.js';
export { decodeTags, escapeForReview, findHidden, normalise } from './text.js';
export type { HiddenClass, HiddenRun } from './text.js';
export { ALL_DETECTORS, CONTENT_DETECTORS, DEFINITION_DETECTORS } from './detectors/index.js';
export { createScanner } from './scanner.js';
export type { DefinitionScanOptions, ItemFindings, Scanner, ScannerOptions } from './scanner.js';
export { redact, redactContent, redactionMarker } from './redact.js';
export { actionFor, admissionVerdict } from './verdict.js';
export type { Action, Verdict } from './verdict.js';
