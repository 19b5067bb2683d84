/**
 * The traffic generator, a child process driven over IPC by bench/run.ts. It renders a fleet's
 * traffic into one buffer of PUBLISH frames up front, then writes slices of that buffer to a raw
 * MQTT connection at the requested rate: the cost of a batch is one socket write, so the
 * generator is never what limits a measurement. It stops on its own when its parent goes away.
 */
import type { Socket } from 'node:net';
import { buildScript, type FleetSpec, type Script } from './lib/fleet.js';
import { DISCONNECT_FRAME, rawConnect } from './lib/frames.js';

export type GeneratorRequest =
  | { op: 'connect'; name: string; port: number; clientId: string }
  | { op: 'script'; id: string; spec: FleetSpec }
  | {
      op: 'play';
      /** The connection (broker) to write to. */
      conn: string;
      script: string;
      rate: number;
      /** Stop after this many frames (Infinity: until `stop`). */
      frames: number;
      /** Frame to start from; wraps around at the end of the script. */
      from?: number;
    }
  | { op: 'progress' }
  | { op: 'stop' }
  | { op: 'exit' };

export type GeneratorReply =
  | { op: 'connected' }
  | {
      op: 'scripted';
      id: string;
      count: number;
      bytes: number;
      kinds: Record<string, number>;
      periodSeconds: number;
      timeScale: number;
      devices: number;
      symbolsUsed: number;
      buildMs: number;
    }
  | { op: 'progress'; sent: number; bytes: number; position: number; playing: boolean; elapsedMs: number }
  | {
      op: 'done';
      sent: number;
      /** Bytes of the frames sent: a subscriber reads exactly these from the broker. */
      bytes: number;
      position: number;
      elapsedMs: number;
      /** Time the socket spent unable to take more: the broker was not reading fast enough. */
      blockedMs: number;
    }
  | { op: 'error'; message: string };

const scripts = new Map<string, Script>();
const sockets = new Map<string, Socket>();

interface Play {
  socket: Socket;
  script: Script;
  rate: number;
  frames: number;
  sent: number;
  bytes: number;
  position: number;
  start: number;
  blocked: boolean;
  blockedSince: number;
  blockedMs: number;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}
let play: Play | undefined;

const send = (m: GeneratorReply) => process.send?.(m);

process.on('disconnect', () => process.exit(0));
process.on('message', (raw) => {
  const m = raw as GeneratorRequest;
  handle(m).catch((err: Error) => send({ op: 'error', message: err.message }));
});

async function handle(m: GeneratorRequest): Promise<void> {
  switch (m.op) {
    case 'connect': {
      const socket = await rawConnect(m.port, m.clientId);
      socket.setNoDelay(false);
      socket.on('error', (err) =>
        send({ op: 'error', message: `generator socket ${m.name}: ${err.message}` }),
      );
      sockets.set(m.name, socket);
      send({ op: 'connected' });
      return;
    }
    case 'script': {
      const t = performance.now();
      const s = scripts.get(m.id) ?? buildScript(m.spec);
      scripts.set(m.id, s);
      send({
        op: 'scripted',
        id: m.id,
        count: s.count,
        bytes: s.data.length,
        kinds: s.kinds,
        periodSeconds: s.periodSeconds,
        timeScale: s.timeScale,
        devices: s.devices,
        symbolsUsed: s.symbolsUsed,
        buildMs: performance.now() - t,
      });
      return;
    }
    case 'play': {
      const socket = sockets.get(m.conn);
      if (socket === undefined) throw new Error(`no connection ${m.conn}`);
      if (play !== undefined && !play.stopped) throw new Error('already playing');
      const script = scripts.get(m.script);
      if (script === undefined) throw new Error(`no script ${m.script}`);
      play = {
        socket,
        script,
        rate: m.rate,
        frames: m.frames,
        sent: 0,
        bytes: 0,
        position: (m.from ?? 0) % script.count,
        start: performance.now(),
        blocked: false,
        blockedSince: 0,
        blockedMs: 0,
        timer: undefined,
        stopped: false,
      };
      tick(play);
      return;
    }
    case 'progress':
      send({
        op: 'progress',
        sent: play?.sent ?? 0,
        bytes: play?.bytes ?? 0,
        position: play?.position ?? 0,
        playing: play !== undefined && !play.stopped,
        elapsedMs: play ? performance.now() - play.start : 0,
      });
      return;
    case 'stop':
      if (play !== undefined && !play.stopped) finish(play);
      return;
    case 'exit':
      if (play !== undefined && !play.stopped) finish(play);
      for (const socket of sockets.values()) socket.end(DISCONNECT_FRAME);
      setTimeout(() => process.exit(0), 100);
      return;
  }
}

/** Writes every frame due by now in one or two slices, then sleeps a tick. */
function tick(p: Play): void {
  p.timer = undefined;
  if (p.stopped) return;
  const now = performance.now();
  const due = Math.min(p.frames, Math.floor(((now - p.start) * p.rate) / 1000));
  let n = due - p.sent;
  const s = p.script;
  while (n > 0 && !p.blocked) {
    const take = Math.min(n, s.count - p.position);
    const slice = s.data.subarray(s.offsets[p.position]!, s.offsets[p.position + take]!);
    p.position = (p.position + take) % s.count;
    p.sent += take;
    p.bytes += slice.length;
    n -= take;
    if (!p.socket.write(slice)) {
      p.blocked = true;
      p.blockedSince = performance.now();
      p.socket.once('drain', () => {
        p.blocked = false;
        p.blockedMs += performance.now() - p.blockedSince;
        if (!p.stopped && p.timer === undefined) tick(p);
      });
    }
  }
  if (p.sent >= p.frames) {
    finish(p);
    return;
  }
  if (!p.blocked) p.timer = setTimeout(tick, p.rate >= 20_000 ? 1 : p.rate >= 2_000 ? 2 : 5, p);
}

function finish(p: Play): void {
  p.stopped = true;
  if (p.timer !== undefined) clearTimeout(p.timer);
  p.timer = undefined;
  const report = () =>
    send({
      op: 'done',
      sent: p.sent,
      bytes: p.bytes,
      position: p.position,
      elapsedMs: performance.now() - p.start,
      blockedMs: p.blockedMs,
    });
  // Done means written to the kernel, so the broker has every frame the count says it was sent.
  if (p.blocked) p.socket.once('drain', report);
  else report();
}
