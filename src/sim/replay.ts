import { BOOT_TOPIC, HEARTBEAT_TOPIC, isDeviceId, REQUEST_TOPIC, REQUEST_TYPE } from '../protocol/index.js';
import { classifyReply, type Truth, TruthLedger } from './truth.js';

export interface TrafficMessage {
  /** Milliseconds, any origin: when the message was received. */
  t: number;
  topic: string;
  payload: string | Buffer;
}

function parseObject(payload: string | Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Counts a capture of broker traffic with the exporter's rules, from the payloads alone: what a
 * correct exporter that saw this capture, at these times, would report.
 */
export function replayTraffic(
  messages: Iterable<TrafficMessage>,
  opts: { timeoutMs?: number; lateWindowMs?: number } = {},
): Truth {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const ledger = new TruthLedger(timeoutMs, opts.lateWindowMs ?? timeoutMs);
  for (const m of messages) {
    ledger.messages++;
    if (m.topic === REQUEST_TOPIC) {
      const o = parseObject(m.payload);
      if (o && o.type === REQUEST_TYPE && typeof o.device === 'string') {
        const symbol = typeof o.symbol === 'string' && o.symbol !== '' ? o.symbol : null;
        ledger.request(m.t, o.device, symbol);
      }
    } else if (m.topic === BOOT_TOPIC) {
      const o = parseObject(m.payload);
      if (o && typeof o.device === 'string') ledger.boot(m.t, o.device);
    } else if (m.topic === HEARTBEAT_TOPIC) {
      const o = parseObject(m.payload);
      if (o && typeof o.device === 'string') {
        const raw = o.uptime;
        const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
        ledger.heartbeat(m.t, o.device, Number.isFinite(n) ? n : undefined);
      }
    } else if (isDeviceId(m.topic)) {
      const o = parseObject(m.payload);
      if (o) ledger.reply(m.t, m.topic, classifyReply(o));
    }
  }
  return ledger.finalize();
}
