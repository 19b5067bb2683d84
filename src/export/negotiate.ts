export type ExpositionFormat = 'text' | 'openmetrics' | 'protobuf';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
export const PROTOBUF_CONTENT_TYPE =
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

const TEXT = { format: 'text', contentType: TEXT_CONTENT_TYPE } as const;
const OPENMETRICS = { format: 'openmetrics', contentType: OPENMETRICS_CONTENT_TYPE } as const;
const PROTOBUF = { format: 'protobuf', contentType: PROTOBUF_CONTENT_TYPE } as const;

export function contentTypeOf(format: ExpositionFormat): string {
  if (format === 'protobuf') return PROTOBUF_CONTENT_TYPE;
  return format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
}

/**
 * Picks the format the client ranks highest by q-value among the three it may name:
 * - protobuf (`application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily` and
 *   `encoding=delimited`, as Prometheus sends first when native histograms are on); another
 *   `proto` or `encoding` rules it out;
 * - OpenMetrics (`application/openmetrics-text`, versions 1.0.0 and 0.0.1);
 * - text 0.0.4 (`text/plain`, `text/*`, `*` / `*`).
 * Ties go to protobuf, then OpenMetrics. Everything else, including a missing, malformed or
 * unsatisfiable header, gets text 0.0.4, which every scraper reads. A bare `*` / `*` counts for text
 * only: curl and browsers send it and expect the classic format.
 */
export function negotiateFormat(accept: string | undefined): {
  format: ExpositionFormat;
  contentType: string;
} {
  if (!accept) return { ...TEXT };
  let pbQ = 0;
  let omQ = 0;
  let textQ = 0;
  for (const range of accept.split(',')) {
    const params = range.split(';');
    const type = params[0]!.trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
    let proto: string | undefined;
    let encoding: string | undefined;
    for (let i = 1; i < params.length; i++) {
      const param = params[i]!;
      const eq = param.indexOf('=');
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      const value = param
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      if (key === 'q') {
        const n = Number(value);
        // A q-value that does not parse makes the range unusable rather than preferred.
        q = value !== '' && n >= 0 && n <= 1 ? n : 0;
      } else if (key === 'version') {
        version = value;
      } else if (key === 'proto') {
        proto = value;
      } else if (key === 'encoding') {
        encoding = value.toLowerCase();
      }
    }
    if (type === 'application/vnd.google.protobuf') {
      if (proto === 'io.prometheus.client.MetricFamily' && encoding === 'delimited') pbQ = Math.max(pbQ, q);
    } else if (type === 'application/openmetrics-text') {
      // 0.0.1 is the draft Prometheus 2.x still advertises; 1.0.0 is a valid answer to it.
      if (version === undefined || version === '1.0.0' || version === '0.0.1') omQ = Math.max(omQ, q);
    } else if (type === 'text/plain' || type === 'text/*' || type === '*/*') {
      textQ = Math.max(textQ, q);
    }
  }
  if (pbQ > 0 && pbQ >= omQ && pbQ >= textQ) return { ...PROTOBUF };
  return omQ > 0 && omQ >= textQ ? { ...OPENMETRICS } : { ...TEXT };
}
