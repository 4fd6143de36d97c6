/** Builds the wire for an upstream's configured transport. */
import type { UpstreamConfig } from '../config/types.js';
import type { Logger } from '../core/log.js';
import type { UpstreamWire } from './wire.js';
import { StdioWire } from './wires/stdio.js';
import { HttpWire } from './wires/http.js';
import { SseWire } from './wires/sse.js';

export function wireFactory(logger: Logger): (name: string, config: UpstreamConfig) => UpstreamWire {
  return (name, config) => {
    const log = logger;
    switch (config.transport) {
      case 'stdio':
        return new StdioWire({ name, logger: log, command: config.command, args: config.args, env: config.env, ...(config.cwd ? { cwd: config.cwd } : {}) });
      case 'http':
        return new HttpWire({ name, logger: log, url: config.url, headers: config.headers, ...(config.tls ? { tls: config.tls } : {}) });
      case 'sse':
        return new SseWire({ name, logger: log, url: config.url, headers: config.headers, ...(config.tls ? { tls: config.tls } : {}) });
    }
  };
}
