import { createHash } from 'node:crypto';
import { PAGE_JS } from './client.js';
import { PAGE_CSS } from './style.js';

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%232a62c9'/%3E%3Cpath d='M3 11l3-4 3 2 4-5' stroke='white' stroke-width='1.8' fill='none'/%3E%3C/svg%3E";

/**
 * Only the page's own script and stylesheet may run (by hash), and it may only talk to its origin:
 * a symbol name crafted as markup could not run even if it reached the DOM as such.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(PAGE_JS)}`,
  `style-src ${hash(PAGE_CSS)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const head = (title: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="icon" href="${FAVICON}">
<style>${PAGE_CSS}</style>
</head>`;

export const PAGE_HTML = `${head('TickrMeter fleet \u00b7 tkmprom')}
<body data-updates="0">
<main>
<header>
  <h1>TickrMeter fleet</h1>
  <span id="status">loading\u2026</span>
</header>
<div class="tiles">
  <div class="tile health" id="t-health">
    <div class="label">Health</div>
    <div class="value" id="health">\u2013</div>
    <div class="sub" id="health-sub">&nbsp;</div>
  </div>
  <div class="tile">
    <div class="label">Devices online</div>
    <div class="value" id="online">\u2013</div>
    <div class="sub" id="online-sub">&nbsp;</div>
  </div>
  <div class="tile">
    <div class="label">Messages per second</div>
    <div class="value" id="rate">\u2013</div>
    <div class="sub" id="rate-sub">&nbsp;</div>
  </div>
  <div class="tile">
    <div class="label">Quote p95 latency</div>
    <div class="value" id="p95">\u2013</div>
    <div class="sub" id="p95-sub">&nbsp;</div>
  </div>
</div>
<div class="cols">
  <section class="panel" id="worst">
    <h2>Worst symbols</h2>
    <div class="scroll">
    <table>
      <thead><tr><th class="hide-narrow">#</th><th>Symbol</th><th class="hide-narrow">Stream</th><th>Health</th><th class="num">p95</th><th class="num" title="timeouts / requests in the window">Timeouts</th><th>Trend</th></tr></thead>
      <tbody id="worst-body"></tbody>
    </table>
    </div>
    <div class="empty" id="worst-empty">No symbol with at least <span id="worst-min"></span> requests in the window yet.</div>
    <div class="note muted">Down symbols (not one quote answered in the window) first, then the slowest.</div>
  </section>
  <section class="panel">
    <h2>Went offline recently</h2>
    <ul class="offline" id="offline"></ul>
    <div class="empty" id="offline-empty">No device went offline since the exporter started.</div>
  </section>
</div>
<section class="panel">
  <h2>Streams</h2>
  <div class="streams" id="streams"></div>
  <div class="empty" id="streams-empty">No quote requests seen yet.</div>
</section>
<footer>
  <span>tkmprom</span>
  <a href="api/v1/stats">JSON API</a>
  <a href="api/openapi.json">OpenAPI</a>
  <a href="metrics">metrics</a>
</footer>
</main>
<script>${PAGE_JS}</script>
</body>
</html>
`;

/** The page without a token: a form, no script (the CSP would allow none anyway). */
export function loginHtml(wrong: boolean): string {
  return `${head('Sign in \u00b7 tkmprom')}
<body>
<main>
<section class="panel login">
  <h1>TickrMeter fleet</h1>
  <p class="muted">This exporter asks for its API token${wrong ? '; <b class="bad">that one is not it</b>' : ''}.</p>
  <form method="get" action="">
    <input type="password" name="token" autocomplete="current-password" required autofocus aria-label="API token">
    <button type="submit">Open</button>
  </form>
</section>
</main>
</body>
</html>
`;
}
