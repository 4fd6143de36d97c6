/**
 * The sandbox as the gateway uses it: probes the machine once, says loudly what is missing, and turns each start of
 * a stdio server into the planned process (or a refusal naming the config switch).
 */
import type { StdioUpstreamConfig } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import type { LaunchSpec } from '../wires/stdio.js';
import { planContext, planLaunch, prepareWorkDir, type LaunchPlan, type PlanConfig } from './commandLine.js';
import { DEFAULT_SANDBOX } from './config.js';
import { describeProbe, effectiveRunAs, probeSandbox, type SandboxProbe } from './probe.js';

export type SandboxSettings = PlanConfig;

export class SandboxLauncher {
  private readonly warned = new Set<string>();

  /** `probe`: tests stand in a machine without bubblewrap. */
  constructor(
    private readonly config: SandboxSettings,
    private readonly log: Logger,
    readonly probe: () => Promise<SandboxProbe> = () => probeSandbox(effectiveRunAs((config.sandbox ?? DEFAULT_SANDBOX).runAs)),
  ) {}

  /** Logs what the machine can isolate: an error when bubblewrap is missing, so nobody runs unsandboxed unawares. */
  async announce(): Promise<void> {
    const p = await this.probe();
    const lines = describeProbe(p);
    if (p.bubblewrap && p.prlimit) {
      this.log.info({ sandbox: lines }, 'stdio servers run sandboxed');
      return;
    }
    const require = (this.config.sandbox ?? DEFAULT_SANDBOX).requireIsolation;
    this.log.error(
      { sandbox: lines, requireIsolation: require },
      require
        ? 'SANDBOX UNAVAILABLE: stdio servers will not start (sandbox.requireIsolation is true)'
        : 'SANDBOX UNAVAILABLE: stdio servers run UNSANDBOXED (sandbox.requireIsolation is false)',
    );
  }

  async plan(name: string, up: StdioUpstreamConfig): Promise<LaunchPlan> {
    return planLaunch(name, up, planContext(this.config, await this.probe()));
  }

  /** The process for one start of the server; refusals are thrown (the upstream reports them as its failure). */
  async launch(name: string, up: StdioUpstreamConfig): Promise<LaunchSpec> {
    const plan = await this.plan(name, up);
    for (const w of plan.warnings) {
      if (this.warned.has(w)) continue;
      this.warned.add(w);
      this.log.warn({ upstream: name }, w);
    }
    prepareWorkDir(plan);
    const [command, ...args] = plan.argv as [string, ...string[]];
    return { command, args, env: plan.env, cwd: plan.spawnCwd };
  }
}
