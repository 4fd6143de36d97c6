/** Graceful shutdown: the first SIGINT/SIGTERM closes, a second one (or a stuck close) exits at once. */
import type { Logger } from '../core/log.js';

const CLOSE_TIMEOUT_MS = 10_000;

/** Resolves with the exit code once `close` has finished after a signal. */
export function closeOnSignal(close: () => Promise<void>, logger: Logger): Promise<number> {
  return new Promise((resolve) => {
    let closing = false;
    const off = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (closing) {
        logger.warn({ signal }, 'second signal, exiting without waiting');
        process.exit(130);
      }
      closing = true;
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: CLOSE_TIMEOUT_MS }, 'graceful shutdown timed out');
        process.exit(1);
      }, CLOSE_TIMEOUT_MS);
      timer.unref();
      close().then(
        () => {
          clearTimeout(timer);
          off();
          resolve(0);
        },
        (err: unknown) => {
          clearTimeout(timer);
          off();
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
