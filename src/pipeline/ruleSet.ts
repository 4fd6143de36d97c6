/**
 * The reloadable part of the configuration, compiled: the policy, the rate limits, quotas and priorities, what
 * configuration says about items (tags, annotation overrides, stricter input schemas), and the content guardrails
 * and taint settings. Immutable; a reload builds a new RuleSet and swaps the reference, and each request keeps the
 * one it started with (ctx.rules).
 */
import type { GatewayConfig, ToolOverrideConfig } from '../config/types.js';
import { configPolicy } from '../config/policy.js';
import type { CompiledPolicy, PolicyResource, ToolAnnotations } from '../policy/index.js';
import { compileLimits, type CompiledLimits } from '../limits/limiter.js';
import { isObject, type JsonObject } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import type { RecordStore } from '../storage/types.js';
import { Guardrails, type ContentGuards } from '../guardrails/guardrails.js';
import type { Guardrail } from '../guardrails/guardrail.js';
import { TaintTracker } from '../guardrails/taint.js';

/** What every generation shares: fixed at start. */
export interface RuleSetEnv {
  /** Operator guardrails, loaded once at start (guardrails.custom is restart-only). */
  readonly custom: readonly Guardrail[];
  /** Where taint marks live: a new generation's tracker keeps the marks already recorded. */
  readonly records: RecordStore;
  readonly log: Logger;
}

interface ServerOverrides {
  readonly tags: readonly string[];
  readonly tools: ReadonlyMap<string, ToolOverrideConfig>;
  readonly promptTags: ReadonlyMap<string, readonly string[]>;
}

const NO_TAGS: readonly string[] = Object.freeze([]);

export class RuleSet implements ContentGuards {
  readonly policy: CompiledPolicy;
  readonly limits: CompiledLimits;
  readonly guardrails: Guardrails;
  readonly taint: TaintTracker;
  /** No allow rule at all: every list is empty and every use refused (serve warns about it). */
  readonly allowsNothing: boolean;
  private readonly servers = new Map<string, ServerOverrides>();
  /** Tool resources are built once per (definition, rule set): their annotations merge upstream hints and overrides. */
  private readonly toolItems = new WeakMap<JsonObject, PolicyResource>();

  constructor(readonly generation: number, config: GatewayConfig, env: RuleSetEnv) {
    this.policy = configPolicy(config);
    this.limits = compileLimits(config);
    this.guardrails = new Guardrails(config.guardrails, { upstreams: config.upstreams, custom: env.custom, log: env.log });
    this.taint = new TaintTracker(env.records, config.guardrails.taint, this.policy.readsTaint);
    this.allowsNothing = !this.policy.rules.some((r) => r.effect === 'allow');
    for (const [name, up] of Object.entries(config.upstreams)) {
      this.servers.set(name, {
        tags: up.tags ?? NO_TAGS,
        tools: new Map(Object.entries(up.tools ?? {})),
        promptTags: new Map(Object.entries(up.prompts ?? {}).map(([k, v]) => [k, v.tags])),
      });
    }
    Object.freeze(this);
  }

  toolOverride(server: string, tool: string): ToolOverrideConfig | undefined {
    return this.servers.get(server)?.tools.get(tool);
  }

  /** A tool as the policy sees it: annotations from the upstream unless configuration overrides them, and its tags. */
  tool(server: string, definition: JsonObject): PolicyResource {
    let item = this.toolItems.get(definition);
    if (!item) {
      const name = String(definition.name);
      const o = this.toolOverride(server, name);
      const annotations = this.annotations(definition, o);
      item = { kind: 'tool', server, name, annotations, tags: this.tagsOf(server, o?.tags) };
      this.toolItems.set(definition, item);
    }
    return item;
  }

  prompt(server: string, name: string): PolicyResource {
    return { kind: 'prompt', server, name, tags: this.tagsOf(server, this.servers.get(server)?.promptTags.get(name)) };
  }

  resource(server: string, uri: string): PolicyResource {
    return { kind: 'resource', server, uri, tags: this.servers.get(server)?.tags ?? NO_TAGS };
  }

  template(server: string, uriTemplate: string): PolicyResource {
    return { kind: 'template', server, uri: uriTemplate, tags: this.servers.get(server)?.tags ?? NO_TAGS };
  }

  /** The tool definition a client is shown: overridden annotations replace the upstream's. */
  shownTool(server: string, definition: JsonObject): JsonObject {
    const o = this.toolOverride(server, String(definition.name));
    if (!o?.annotations) return definition;
    return { ...definition, annotations: { ...(isObject(definition.annotations) ? definition.annotations : {}), ...o.annotations } };
  }

  private annotations(definition: JsonObject, o: ToolOverrideConfig | undefined): ToolAnnotations | undefined {
    const up = isObject(definition.annotations) ? (definition.annotations as ToolAnnotations) : undefined;
    if (!o?.annotations) return up;
    return { ...(up ?? {}), ...o.annotations };
  }

  private tagsOf(server: string, own: readonly string[] | undefined): readonly string[] {
    const base = this.servers.get(server)?.tags ?? NO_TAGS;
    if (!own || own.length === 0) return base;
    return base.length === 0 ? own : [...new Set([...base, ...own])];
  }
}
