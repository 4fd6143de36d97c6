/**
 * OpenTelemetry traces of the pipeline: one SERVER span per request (a child of the client's `traceparent` when a
 * modern HTTP request brings one), one span per stage beneath it, nested as the stages nest, and a CLIENT span for
 * the upstream stage (the call to the upstream server). With tracing off the stages are not wrapped at all, so it
 * costs nothing. The current span of a request is kept per context (not in AsyncLocalStorage, whose promise hooks
 * would tax every request of the process); spans go to a batching OTLP/HTTP exporter when one is configured.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler,
  type SpanExporter, type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { JsonObject } from '../core/jsonrpc.js';
import type { NamedStage } from '../pipeline/pipeline.js';
import type { RequestContext } from '../pipeline/context.js';
import type { TracingConfig } from './config.js';
import { outcomeOf } from './outcome.js';

const propagator = new W3CTraceContextPropagator();
const headerGetter = {
  keys: (h: Record<string, unknown>) => Object.keys(h),
  get: (h: Record<string, unknown>, key: string) => h[key] as string | string[] | undefined,
};

export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  /** The innermost open span of each request in flight. */
  private readonly active = new WeakMap<RequestContext, Context>();

  /** `exporter`: tests pass an in-memory one (spans exported synchronously); otherwise config.otlp, if any. */
  constructor(config: TracingConfig, version: string, exporter?: SpanExporter) {
    const processors: SpanProcessor[] = [];
    if (exporter) processors.push(new SimpleSpanProcessor(exporter));
    else if (config.otlp) processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlp.url, headers: config.otlp.headers })));
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': version }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: processors,
    });
    this.tracer = this.provider.getTracer('portcullis', version);
  }

  /** The stages with spans around them, behind a first stage that opens the request's span. */
  instrument(stages: readonly NamedStage[]): NamedStage[] {
    return [this.requestStage(), ...stages.map((s) => this.stageSpan(s))];
  }

  /** The W3C traceparent of the request's current span (for an upstream's HTTP headers), when it is traced. */
  traceparent(ctx: RequestContext): string | undefined {
    const c = this.active.get(ctx);
    if (!c) return undefined;
    const carrier: Record<string, string> = {};
    propagator.inject(c, carrier, { set: (h, k, v) => { h[k] = v; } });
    return carrier.traceparent;
  }

  async close(): Promise<void> {
    await this.provider.shutdown();
  }

  private requestStage(): NamedStage {
    return {
      name: 'trace',
      run: (ctx, next) => {
        const parent = ctx.httpHeaders?.traceparent ? propagator.extract(ROOT_CONTEXT, ctx.httpHeaders, headerGetter) : ROOT_CONTEXT;
        const span = this.tracer.startSpan(ctx.request.method, {
          kind: SpanKind.SERVER,
          attributes: {
            'mcp.method.name': ctx.request.method, 'jsonrpc.request.id': String(ctx.request.id), 'portcullis.request_id': ctx.requestId ?? '',
            'portcullis.endpoint': ctx.endpoint.key, 'portcullis.era': ctx.era, 'portcullis.transport': ctx.transport,
            ...(ctx.session ? { 'mcp.session.id': ctx.session.id } : {}),
          },
        }, parent);
        // Not sampled: no stage spans either, so sampleRatio lowers the cost as well as the volume.
        if (!span.isRecording()) return next();
        this.active.set(ctx, trace.setSpan(parent, span));
        return settle(next(), span, (result, failure) => {
          if (ctx.target) span.setAttribute('portcullis.item', `${ctx.target.upstream.name}/${ctx.target.item.name ?? ctx.target.item.uri ?? ''}`);
          if (ctx.decision) span.setAttribute('portcullis.decision', ctx.decision.outcome);
          span.setAttribute('portcullis.outcome', outcomeOf(result, failure));
          this.active.delete(ctx);
        });
      },
    };
  }

  private stageSpan(stage: NamedStage): NamedStage {
    const upstream = stage.name === 'upstream';
    const name = upstream ? 'upstream call' : `stage ${stage.name}`;
    return {
      name: stage.name,
      run: (ctx, next) => {
        const parent = this.active.get(ctx);
        if (!parent) return stage.run(ctx, next);
        const span = this.tracer.startSpan(name, { kind: upstream ? SpanKind.CLIENT : SpanKind.INTERNAL }, parent);
        const mine = trace.setSpan(parent, span);
        this.active.set(ctx, mine);
        if (upstream) ctx.traceparent = this.traceparent(ctx);
        let out: Promise<JsonObject>;
        try {
          out = stage.run(ctx, next);
        } catch (e) {
          out = Promise.reject(e);
        }
        return settle(out, span, (_result, failure) => {
          if (upstream) {
            const up = ctx.target?.upstream.name ?? (ctx.route?.kind === 'forward' ? ctx.route.upstream.name : undefined);
            if (up) span.setAttribute('portcullis.upstream', up);
          }
          if (failure !== undefined) span.setAttribute('error.type', outcomeOf(undefined, failure));
          // Back in this stage's caller: its span is the current one again.
          this.active.set(ctx, parent);
        });
      },
    };
  }
}

/** Ends the span when the promise settles (status from the outcome) and passes the promise's value through. */
function settle(p: Promise<JsonObject>, span: Span, annotate: (result: JsonObject | undefined, failure: unknown) => void): Promise<JsonObject> {
  return p.then(
    (result) => {
      annotate(result, undefined);
      span.end();
      return result;
    },
    (failure: unknown) => {
      annotate(undefined, failure);
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcomeOf(undefined, failure) });
      span.end();
      throw failure;
    },
  );
}
