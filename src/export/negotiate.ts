export type ExpositionFormat = 'text' | 'openmetrics';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const TEXT = { format: 'text', contentType: TEXT_CONTENT_TYPE } as const;
const OPENMETRICS = { format: 'openmetrics', contentType: OPENMETRICS_CONTENT_TYPE } as const;

export function contentTypeOf(format: ExpositionFormat): string {
  return format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
}

/**
 * Picks OpenMetrics only when the client names application/openmetrics-text with a q-value at least as high
 * as anything that would accept text; everything else, including a missing, malformed or unsatisfiable
 * header, gets text 0.0.4, which every scraper reads. A bare `*` / `*` counts for text only: curl and
 * browsers send it and expect the classic format.
 */
export function negotiateFormat(accept: string | undefined): {
  format: ExpositionFormat;
  contentType: string;
} {
  if (!accept) return { ...TEXT };
  let omQ = 0;
  let textQ = 0;
  for (const range of accept.split(',')) {
    const params = range.split(';');
    const type = params[0]!.trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
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
      }
    }
    if (type === 'application/openmetrics-text') {
      // 0.0.1 is the draft Prometheus 2.x still advertises; 1.0.0 is a valid answer to it.
      if (version === undefined || version === '1.0.0' || version === '0.0.1') omQ = Math.max(omQ, q);
    } else if (type === 'text/plain' || type === 'text/*' || type === '*/*') {
      textQ = Math.max(textQ, q);
    }
  }
  return omQ > 0 && omQ >= textQ ? { ...OPENMETRICS } : { ...TEXT };
}
