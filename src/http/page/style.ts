/** The status page's stylesheet: system fonts only, light and dark, laptop and phone. */
export const PAGE_CSS = `
:root {
  --bg: #f4f6f9; --panel: #ffffff; --text: #17202b; --muted: #5d6b7c; --line: #dfe4ea;
  --good: #168a4a; --warn: #b86e00; --bad: #c8283c; --none: #8a96a3; --accent: #2a62c9;
  --good-bg: #e3f5ea; --warn-bg: #fdf0d9; --bad-bg: #fbe3e6; --none-bg: #eceff3;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f141a; --panel: #18202a; --text: #e6ebf1; --muted: #93a1b1; --line: #2a3542;
    --good: #3ccf7c; --warn: #f0a531; --bad: #ff5d6e; --none: #7d8a98; --accent: #6ea1ff;
    --good-bg: #123322; --warn-bg: #3a2a0e; --bad-bg: #3d161c; --none-bg: #232d38;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-variant-numeric: tabular-nums;
}
main { max-width: 1200px; margin: 0 auto; padding: 16px 20px 32px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 16px; margin-bottom: 16px; }
h1 { font-size: 20px; margin: 0; font-weight: 650; letter-spacing: -0.01em; }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 650; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
#status { color: var(--muted); font-size: 13px; }
#status.stale { color: var(--bad); font-weight: 600; }
.tiles { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; margin-bottom: 20px; }
.tile, section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; }
.tile { padding: 12px 14px; min-width: 0; }
.tile .label { color: var(--muted); font-size: 13px; }
.tile .value { font-size: 30px; font-weight: 700; line-height: 1.15; margin: 2px 0; white-space: nowrap; }
.tile .value small { font-size: 15px; font-weight: 500; color: var(--muted); }
.tile .sub { color: var(--muted); font-size: 13px; }
section.panel { padding: 14px 16px; margin-bottom: 20px; }
.cols { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 20px; }
.cols > section.panel { margin-bottom: 0; }
.cols { margin-bottom: 20px; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.03em; padding: 4px 8px 6px; border-bottom: 1px solid var(--line); }
td { padding: 7px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; }
td.sym { font-weight: 650; max-width: 160px; overflow: hidden; text-overflow: ellipsis; }
td.rank { color: var(--muted); width: 1%; }
.muted { color: var(--muted); }
.pill { display: inline-block; min-width: 44px; text-align: center; padding: 1px 8px; border-radius: 999px; font-weight: 650; font-size: 13px; }
.good { color: var(--good); } .warn { color: var(--warn); } .bad { color: var(--bad); } .none { color: var(--none); }
.pill.good { background: var(--good-bg); } .pill.warn { background: var(--warn-bg); }
.pill.bad { background: var(--bad-bg); } .pill.none { background: var(--none-bg); }
.trend { font-size: 13px; font-weight: 600; }
.trend.degrading { color: var(--bad); } .trend.improving { color: var(--good); }
.trend.unknown, .trend.stable { color: var(--muted); font-weight: 500; }
.streams { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; }
.stream { display: flex; flex-direction: column; border: 1px solid var(--line); border-left: 4px solid var(--none); border-radius: 8px; padding: 10px 12px 8px; min-width: 0; }
.stream.good { border-left-color: var(--good); } .stream.warn { border-left-color: var(--warn); } .stream.bad { border-left-color: var(--bad); }
.stream .head { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.stream .name { font-weight: 650; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--text); }
.stream .figs { flex: 1; align-content: flex-start; display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 13px; color: var(--muted); margin: 4px 0 6px; }
.stream .figs b { color: var(--text); font-weight: 600; }
.chart { display: block; width: 100%; height: 56px; }
.chart .line { fill: none; stroke: var(--accent); stroke-width: 1.6; stroke-linejoin: round; stroke-linecap: round; vector-effect: non-scaling-stroke; }
.chart .area { fill: var(--accent); opacity: 0.12; }
.chart .objective { stroke: var(--warn); stroke-width: 1; stroke-dasharray: 3 3; vector-effect: non-scaling-stroke; }
.chart .fail { fill: var(--bad); opacity: 0.75; }
.chart .axis { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
.chart-legend { margin-top: 2px; display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); }
ul.offline { list-style: none; margin: 0; padding: 0; }
ul.offline li { display: flex; justify-content: space-between; gap: 8px; padding: 7px 0; border-bottom: 1px solid var(--line); font-size: 14px; }
ul.offline li:last-child { border-bottom: 0; }
.dev { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.badge { font-size: 12px; padding: 0 6px; border-radius: 4px; background: var(--good-bg); color: var(--good); margin-left: 6px; }
.badge.down { background: var(--bad-bg); color: var(--bad); font-weight: 650; }
.empty { color: var(--muted); font-size: 14px; padding: 6px 0; }
.note { font-size: 12px; padding-top: 6px; }
footer { color: var(--muted); font-size: 12px; display: flex; flex-wrap: wrap; gap: 4px 14px; }
footer a { color: var(--accent); text-decoration: none; }
.login { max-width: 420px; margin: 12vh auto; }
.login h1 { margin-bottom: 8px; }
.login form { display: flex; gap: 8px; margin-top: 14px; }
.login input, .login button { font: inherit; padding: 7px 10px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--text); }
.login input { flex: 1; min-width: 0; }
.login button { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; cursor: pointer; }
@media (max-width: 900px) {
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .cols { grid-template-columns: minmax(0, 1fr); }
  .cols > section.panel + section.panel { margin-top: 0; }
}
@media (max-width: 520px) {
  main { padding: 12px 10px 24px; }
  .tile .value { font-size: 24px; }
  .hide-narrow, td .tlabel { display: none; }
  table { font-size: 13px; }
  th { letter-spacing: 0; }
  td, th { padding-left: 4px; padding-right: 4px; }
  .pill { min-width: 38px; padding: 1px 6px; }
}
`;
