import { pino, type Logger } from 'pino';
import { scrubSecrets } from './scrub.js';

export type { Logger };

/** Structured logs go to stderr so that the stdio transport keeps stdout for JSON-RPC. */
export function createLogger(level: string = process.env.PORTCULLIS_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'portcullis' },
      redact: { paths: ['*.authorization', '*.headers.authorization', '*.env', '*.token', '*.secret'], censor: '[redacted]' },
      // Vault secret values are cut out of every line, whoever put them there (src/core/scrub.ts).
      hooks: { streamWrite: scrubSecrets },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
