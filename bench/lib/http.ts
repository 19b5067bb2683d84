import { Agent, request } from 'node:http';
import { gunzipSync } from 'node:zlib';

export interface Fetched {
  status: number;
  /** From sending the request to the last byte of the body. */
  ms: number;
  /** Bytes on the wire (compressed when the server compressed). */
  wireBytes: number;
  body: Buffer;
  encoding: string | undefined;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = request(url, { agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const raw = Buffer.concat(chunks);
        const encoding = res.headers['content-encoding'];
        resolve({
          status: res.statusCode ?? 0,
          ms,
          wireBytes: raw.length,
          body: encoding === 'gzip' ? gunzipSync(raw) : raw,
          encoding,
        });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sum of the samples of one counter family in a text exposition (either format). */
export function sumFamily(body: string, name: string): number {
  let total = 0;
  let at = body.indexOf(name);
  while (at >= 0) {
    const lineStart = at === 0 || body[at - 1] === '\n';
    const next = body[at + name.length];
    const eol = body.indexOf('\n', at);
    if (lineStart && (next === '{' || next === ' ')) {
      const line = body.slice(at, eol < 0 ? undefined : eol);
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    at = eol < 0 ? -1 : body.indexOf(name, eol);
  }
  return total;
}

/** The value of one sample, identified by its full series text (`name{labels}`), or NaN. */
export function sample(body: string, series: string): number {
  const at = body.indexOf(`\n${series} `);
  if (at < 0) return Number.NaN;
  const eol = body.indexOf('\n', at + 1);
  return Number(body.slice(at + series.length + 2, eol < 0 ? undefined : eol));
}
