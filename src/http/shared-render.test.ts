import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExpositionBuffer, ExpositionFormat } from '../export/index.js';
import { SharedRenders } from './shared-render.js';

/** Renders `<format> <n>` (n counts the renders), into buffers it remembers, on a clock it is told. */
function fixture(opts: { catchUp?: () => Promise<void>; fail?: () => boolean } = {}) {
  const state = { now: 0, renders: 0, buffers: [] as ExpositionBuffer[] };
  const renders = new SharedRenders({
    render: (format: ExpositionFormat, buffer: ExpositionBuffer) => {
      if (opts.fail?.()) throw new Error('collector failed');
      state.renders++;
      state.buffers.push(buffer);
      buffer.text(`${format} ${state.renders}\n`);
    },
    catchUp: opts.catchUp,
    shareMs: 1000,
    keptBuffers: 2,
    maxLive: 2,
    now: () => state.now,
  });
  return { renders, state };
}

const text = (b: Buffer) => b.toString('utf8');

test('readers that arrive while a render is being prepared all get it: one render, one buffer', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const { renders, state } = fixture({ catchUp: () => gate });
  const waiting = [renders.acquire('text'), renders.acquire('text'), renders.acquire('text')];
  release();
  const leases = await Promise.all(waiting);
  assert.equal(state.renders, 1);
  assert.equal(renders.renders, 1);
  assert.equal(renders.live, 1);
  for (const l of leases) {
    assert.equal(text(l.bytes), 'text 1\n');
    assert.equal(l.bytes.buffer, leases[0]!.bytes.buffer, 'the same memory');
  }
  leases[0]!.release();
  leases[1]!.release();
  assert.equal(renders.live, 1, 'one reader still holds it');
  assert.equal(renders.pooled, 0);
  leases[2]!.release();
  assert.equal(renders.live, 0);
  assert.equal(renders.pooled, 1, 'the last release returns the buffer to the pool');
});

test('a render still streamed to someone is shared within shareMs, then a fresh one is made', async () => {
  const { renders, state } = fixture();
  const a = await renders.acquire('text');
  state.now = 999;
  const b = await renders.acquire('text');
  assert.equal(text(b.bytes), 'text 1\n');
  state.now = 1000;
  const c = await renders.acquire('text');
  assert.equal(text(c.bytes), 'text 2\n');
  assert.equal(renders.live, 2);
  // The newer one is shared from now on; the older one lives on for its own readers.
  const d = await renders.acquire('text');
  assert.equal(text(d.bytes), 'text 2\n');
  a.release();
  assert.equal(text(b.bytes), 'text 1\n', 'still valid while b holds it');
  b.release();
  c.release();
  d.release();
  assert.equal(renders.live, 0);
  assert.equal(renders.pooled, 2);
});

test('a render nobody holds is never handed out again: scrapes one after another see fresh values', async () => {
  const { renders, state } = fixture();
  const a = await renders.acquire('text');
  a.release();
  const b = await renders.acquire('text');
  assert.equal(text(b.bytes), 'text 2\n');
  b.release();
  assert.equal(state.renders, 2);
  assert.equal(state.buffers[0], state.buffers[1], 'the pooled buffer was reused');
  assert.equal(renders.pooled, 1);
});

test('formats are shared separately', async () => {
  const { renders } = fixture();
  const t = await renders.acquire('text');
  const o = await renders.acquire('openmetrics');
  const t2 = await renders.acquire('text');
  assert.deepEqual(
    [text(t.bytes), text(o.bytes), text(t2.bytes)],
    ['text 1\n', 'openmetrics 2\n', 'text 1\n'],
  );
  assert.equal(renders.live, 2);
  for (const l of [t, o, t2]) l.release();
  assert.equal(renders.live, 0);
});

test('releasing twice counts once', async () => {
  const { renders } = fixture();
  const a = await renders.acquire('text');
  const b = await renders.acquire('text');
  a.release();
  a.release();
  assert.equal(renders.live, 1, 'b still holds it');
  assert.equal(text(b.bytes), 'text 1\n');
  b.release();
  assert.equal(renders.live, 0);
  assert.equal(renders.pooled, 1);
});

test('a failed render fails every reader waiting for it and keeps nothing', async () => {
  let fail = true;
  const { renders } = fixture({ catchUp: () => Promise.resolve(), fail: () => fail });
  const results = await Promise.allSettled([renders.acquire('text'), renders.acquire('text')]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  assert.equal(renders.live, 0);
  assert.equal(renders.pooled, 1, 'its buffer went back to the pool');
  fail = false;
  const ok = await renders.acquire('text');
  assert.equal(text(ok.bytes), 'text 1\n');
  ok.release();
});

test('with maxLive renders held, readers share the newest whatever its age; fresh again once one is free', async () => {
  const { renders, state } = fixture();
  const a = await renders.acquire('text');
  state.now = 1000;
  const b = await renders.acquire('text');
  state.now = 5000;
  const c = await renders.acquire('text');
  assert.equal(text(c.bytes), 'text 2\n', 'the newest, 4 s old');
  assert.equal(renders.live, 2);
  // The other format has renders of its own.
  const o = await renders.acquire('openmetrics');
  assert.equal(text(o.bytes), 'openmetrics 3\n');
  a.release();
  const d = await renders.acquire('text');
  assert.equal(text(d.bytes), 'text 4\n', 'room for a fresh one');
  for (const l of [b, c, d, o]) l.release();
  assert.equal(renders.live, 0);
  assert.equal(renders.pooled, 2, 'more buffers than kept are let go');
});
