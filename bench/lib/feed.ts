import type { Done, Generator, Scripted } from './gen-client.js';

/**
 * One script played into one broker connection, picking up where the last play stopped, so that
 * consecutive plays are one continuous stream of device cycles.
 */
export class Feed {
  position = 0;
  sent = 0;

  constructor(
    readonly gen: Generator,
    readonly conn: string,
    readonly script: Scripted,
  ) {}

  async play(rate: number, frames: number): Promise<Done> {
    const d = await this.gen.play(
      this.conn,
      this.script.id,
      rate,
      Math.max(1, Math.round(frames)),
      this.position,
    );
    this.position = d.position;
    this.sent += d.sent;
    return d;
  }

  /** One pass over the whole script: every device of the fleet is heard once. */
  pass(rate: number): Promise<Done> {
    return this.play(rate, this.script.count);
  }

  /** Plays until `stop()`; the promise resolves with the totals once stopped. */
  start(rate: number): { done: Promise<Done>; stop: () => Promise<Done> } {
    const done = this.gen.playUntilStopped(this.conn, this.script.id, rate, this.position).then((d) => {
      this.position = d.position;
      this.sent += d.sent;
      return d;
    });
    return {
      done,
      stop: () => {
        this.gen.stop();
        return done;
      },
    };
  }
}
