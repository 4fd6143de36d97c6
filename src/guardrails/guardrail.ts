/**
 * The guardrail contract: a guardrail looks at content crossing the gateway — a result on its way to the client,
 * arguments on their way to an upstream, or a server-to-client request (sampling, elicitation) an upstream sends the
 * client — and returns findings, each with the action it asks for. The built-in content scanner is one guardrail;
 * operators add their own (src/guardrails/custom.ts) with the same interface. Guardrails only find; applying the
 * actions (redact, flag, wrap, block) is done in one place (apply.ts), so a guardrail cannot silently rewrite what it
 * was shown.
 */
import type { Severity, Span } from '../integrity/finding.js';

/**
 * `server-request`: a sampling/createMessage or elicitation/create an upstream sends the client (src/guardrails/
 * serverRequests.ts). Added after the first two: a custom guardrail sees it only when configured `on: [serverRequests]`.
 */
export type Direction = 'result' | 'argument' | 'server-request';

export type GuardrailAction = 'block' | 'redact' | 'flag' | 'wrap' | 'warn';

/** What kind of thing was found: decides how it taints the session (secret/personal-data: sensitive; injection: untrusted). */
export type FindingCategory = 'secret' | 'personal-data' | 'injection' | 'other';

export interface GuardrailFinding {
  /** The rule within the guardrail, e.g. `aws-access-key`. */
  rule: string;
  severity: Severity;
  message: string;
  /** JSON path of the string, relative to the inspected value: `content[0].text`, `path`, `contents[1].text`. */
  path: string;
  /** The offending range in that string; absent: the whole string. */
  span?: Span | undefined;
  /** The matched text, masked or escaped so it is safe to log and show a reviewer (never the secret itself). */
  excerpt?: string | undefined;
  action: GuardrailAction;
  category: FindingCategory;
}

export interface GuardrailInput {
  readonly direction: Direction;
  /** The client's call; for `server-request`, the upstream's request (`sampling/createMessage`, `elicitation/create`). */
  readonly method: 'tools/call' | 'resources/read' | 'prompts/get' | 'sampling/createMessage' | 'elicitation/create';
  /** The upstream's configured name. */
  readonly server: string;
  /**
   * The tool or prompt name as the upstream knows it, or the resource URI. For `server-request`: that of the call the
   * upstream asked during, empty when it asked outside any call.
   */
  readonly item: string;
  /**
   * Arguments: the arguments object. Results: the result object (`content` and `structuredContent` of a tool
   * result, `contents` of a read, `messages` of a prompt). Server requests: what the client's model or user reads of
   * it (`messages` and `systemPrompt` of a sampling request, `message` of an elicitation). Read-only: a guardrail must
   * not change it.
   */
  readonly value: unknown;
  readonly principal?: { readonly subject: string; readonly issuer: string; readonly clientId?: string | undefined } | undefined;
  /** Aborted when the guardrail's time is up or the request is cancelled. */
  readonly signal: AbortSignal;
}

export interface Guardrail {
  readonly name: string;
  readonly directions: ReadonlySet<Direction>;
  inspect(input: GuardrailInput): readonly GuardrailFinding[] | Promise<readonly GuardrailFinding[]>;
  /** Overrides guardrails.failClosed for this guardrail. */
  readonly failClosed?: boolean | undefined;
  /** Overrides guardrails.timeoutMs for this guardrail. */
  readonly timeoutMs?: number | undefined;
  /** Releases what the guardrail holds (connections, workers) when the gateway stops. */
  close?(): void | Promise<void>;
}

/** A finding as the gateway reports it: which guardrail made it. */
export interface ReportedFinding extends GuardrailFinding {
  guardrail: string;
}
