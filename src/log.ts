import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * JSON lines on stdout, as the CLI contract promises. Writes are synchronous: an asynchronous
 * stream flushed at exit can put a line still in flight after the last one, or lose it, and the
 * lines that matter most to an operator are the ones written just before the process ends. The
 * hot path logs only through RateLimitedLog, so the cost of a blocking write stays small.
 */
export function createLogger(level: LogLevel = 'info', name = 'tkmprom'): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ dest: 1, sync: true }));
}

/** A logger that discards everything, for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Lets through at most `perInterval` calls per `intervalMs`, and reports how many were
 * suppressed when the next interval opens. Used for debug logs of bad input, which an attacker
 * or a broken device can produce at line rate.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private emitted = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly perInterval = 10,
    private readonly intervalMs = 10_000,
  ) {}

  debug(nowMs: number, obj: Record<string, unknown>, msg: string): void {
    if (!this.logger.isLevelEnabled('debug')) return;
    if (nowMs - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0) {
        this.logger.debug({ suppressed: this.suppressed }, 'suppressed repeated log lines');
      }
      this.windowStart = nowMs;
      this.emitted = 0;
      this.suppressed = 0;
    }
    if (this.emitted < this.perInterval) {
      this.emitted++;
      this.logger.debug(obj, msg);
    } else {
      this.suppressed++;
    }
  }
}
