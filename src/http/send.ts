import type { ServerResponse } from 'node:http';

/** Bytes handed to the socket at a time; the next slice waits until the socket has drained. */
export const SLICE_BYTES = 64 * 1024;

/**
 * Writes `body` in slices with backpressure and ends the response. A client that takes nothing for
 * `sendTimeoutMs` (from the start, or since the socket last drained) is dropped: the response is
 * destroyed and `onDropped` called once. `done` is called once when the response has closed, however
 * it ended; the bytes must stay valid until then.
 */
export function writeBody(
  res: ServerResponse,
  body: Uint8Array,
  sendTimeoutMs: number,
  onDropped: () => void,
  done: () => void,
): void {
  if (res.destroyed) {
    // The client went away while the body was being prepared: its close has already been seen.
    done();
    return;
  }
  let at = 0;
  let finished = false;
  const timer = setTimeout(() => {
    if (finished) return;
    onDropped();
    res.destroy();
  }, sendTimeoutMs);
  const end = () => {
    finished = true;
    clearTimeout(timer);
  };
  res.once('finish', end);
  res.once('close', () => {
    end();
    res.off('drain', pump);
    done();
  });
  function pump(): void {
    timer.refresh();
    while (at < body.length) {
      const next = Math.min(at + SLICE_BYTES, body.length);
      const slice = body.subarray(at, next);
      at = next;
      if (at === body.length) {
        res.end(slice);
        return;
      }
      if (!res.write(slice)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  }
  pump();
}
