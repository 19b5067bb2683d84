import type { ServerResponse } from 'node:http';

/** Bytes handed to the socket at a time; the next slice waits until the socket has drained. */
export const SLICE_BYTES = 64 * 1024;
/**
 * Slices written to one response before the others get their turn: a socket whose buffer keeps
 * taking (loopback takes megabytes) would otherwise be filled in one go, and many such responses
 * starting together would hold the event loop for as long as the kernel takes to copy it all.
 */
export const SLICES_PER_TURN = 4;

/**
 * Writes `body` in slices with backpressure and ends the response. A client that has not taken the
 * whole of it within `sendTimeoutMs` is dropped: the response is destroyed and `onDropped` called
 * once. A deadline for the whole body rather than for each step, so that a client reading a trickle
 * cannot hold a render (and a place among http.maxConcurrentResponses) for long. `done` is called
 * once when the response has closed, however it ended; the bytes must stay valid until then.
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
    if (finished || res.destroyed) return;
    for (let n = 0; n < SLICES_PER_TURN; n++) {
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
    setImmediate(pump);
  }
  pump();
}
