import type { ExpositionFormat } from '../export/index.js';
import { ExpositionBuffer } from '../export/index.js';

/** Renders younger than this are handed to further readers while one still streams them. */
export const SHARE_MS = 1000;
/** Idle exposition buffers kept for the next renders. */
export const KEPT_BUFFERS = 2;
/**
 * Renders of one format held at once at most: beyond, new readers share the newest one however old
 * it is, so clients that read slowly cost this many buffers and no more. It ages at most until the
 * older one's readers are done (each within http.sendTimeout), and then a fresh one is made.
 */
export const MAX_LIVE_RENDERS = 2;

/** One reader's hold on a render: the bytes stay valid until `release`, which may be called more than once. */
export interface RenderLease {
  readonly bytes: Buffer;
  release(): void;
}

interface Render {
  readonly format: ExpositionFormat;
  readonly buffer: ExpositionBuffer;
  readonly bytes: Buffer;
  /** When it was rendered, by the clock of `SharedRenders`. */
  readonly at: number;
  /** Readers holding it. */
  refs: number;
}

interface Pending {
  render: Promise<Render>;
  /** Readers waiting for it; each gets a reference when it is done. */
  waiters: number;
}

export interface SharedRendersOptions {
  /** Renders the exposition of `format` into `buffer`; throws to fail the scrapes waiting for it. */
  render(format: ExpositionFormat, buffer: ExpositionBuffer): void;
  /** Awaited before each render, so that it includes what has already arrived. */
  catchUp?: () => Promise<void>;
  shareMs?: number;
  keptBuffers?: number;
  maxLive?: number;
  now?: () => number;
}

/**
 * One exposition for many concurrent readers. A scrape that arrives while a render of its format is
 * being prepared, or while one made within `shareMs` is still being streamed to someone, gets the
 * same bytes: one buffer, however many readers. With `maxLive` renders of its format still held,
 * it gets the newest of them whatever its age. Each reader holds a reference; the last one to
 * release it returns the buffer to a small pool. A render nobody holds is never handed out again,
 * so scrapes one after another always see fresh values.
 */
export class SharedRenders {
  private readonly pool: ExpositionBuffer[] = [];
  private readonly latest = new Map<ExpositionFormat, Render>();
  private readonly pending = new Map<ExpositionFormat, Pending>();
  private readonly shareMs: number;
  private readonly keptBuffers: number;
  private readonly maxLive: number;
  private readonly liveByFormat = new Map<ExpositionFormat, number>();
  private readonly now: () => number;
  /** Renders made since the start. */
  renders = 0;
  /** Renders some reader still holds. */
  live = 0;

  constructor(private readonly opts: SharedRendersOptions) {
    this.shareMs = opts.shareMs ?? SHARE_MS;
    this.keptBuffers = opts.keptBuffers ?? KEPT_BUFFERS;
    this.maxLive = opts.maxLive ?? MAX_LIVE_RENDERS;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Idle buffers in the pool. */
  get pooled(): number {
    return this.pool.length;
  }

  async acquire(format: ExpositionFormat): Promise<RenderLease> {
    const latest = this.latest.get(format);
    if (
      latest !== undefined &&
      latest.refs > 0 &&
      (this.now() - latest.at < this.shareMs || (this.liveByFormat.get(format) ?? 0) >= this.maxLive)
    ) {
      latest.refs++;
      return this.lease(latest);
    }
    let pending = this.pending.get(format);
    if (pending === undefined) {
      const p: Pending = { waiters: 0, render: undefined as unknown as Promise<Render> };
      p.render = this.renderFresh(format, p);
      this.pending.set(format, p);
      pending = p;
    }
    pending.waiters++;
    // The render comes with a reference for each waiter already taken.
    return this.lease(await pending.render);
  }

  private async renderFresh(format: ExpositionFormat, pending: Pending): Promise<Render> {
    try {
      // Always awaited, even without a catch-up: the caller registers this render and its first
      // waiter before it goes on.
      await this.opts.catchUp?.();
      const buffer = this.pool.pop() ?? new ExpositionBuffer();
      try {
        this.opts.render(format, buffer);
      } catch (err) {
        this.recycle(buffer);
        throw err;
      }
      this.renders++;
      this.live++;
      this.liveByFormat.set(format, (this.liveByFormat.get(format) ?? 0) + 1);
      const render: Render = { format, buffer, bytes: buffer.bytes(), at: this.now(), refs: pending.waiters };
      this.latest.set(format, render);
      return render;
    } finally {
      this.pending.delete(format);
    }
  }

  /** A lease on a render whose reference has been counted. */
  private lease(render: Render): RenderLease {
    let held = true;
    return {
      bytes: render.bytes,
      release: () => {
        if (!held) return;
        held = false;
        if (--render.refs === 0) this.retire(render);
      },
    };
  }

  private retire(render: Render): void {
    if (this.latest.get(render.format) === render) this.latest.delete(render.format);
    this.live--;
    this.liveByFormat.set(render.format, this.liveByFormat.get(render.format)! - 1);
    this.recycle(render.buffer);
  }

  private recycle(buffer: ExpositionBuffer): void {
    buffer.reset();
    if (this.pool.length < this.keptBuffers) this.pool.push(buffer);
  }
}
