/**
 * The status page's script, plain browser JavaScript kept in a string so that the page needs no
 * build step and works from `src/` and from `dist/` alike. Every name or value from the fleet goes
 * into the page through `textContent` or an attribute, never as markup: symbols, stream names and
 * firmware strings arrive from MQTT and cannot be trusted.
 *
 * It avoids backticks and dollar-brace so that it can live in this template literal unescaped.
 */
export const PAGE_JS = `
'use strict';
(function () {
  var POLL_MS = 5000;
  var STALE_AFTER_MS = 20000;
  var SVG = 'http://www.w3.org/2000/svg';
  var updates = 0;
  var lastOk = 0;
  var timer = null;
  var settings = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function healthClass(h) {
    if (h === null || h === undefined) return 'none';
    return h >= 90 ? 'good' : h >= 50 ? 'warn' : 'bad';
  }

  function fmtHealth(h) { return h === null || h === undefined ? '\\u2013' : h.toFixed(h >= 99.95 ? 0 : 1); }

  function fmtSeconds(s) {
    if (s === null || s === undefined) return '\\u2013';
    if (s < 1) return Math.round(s * 1000) + ' ms';
    if (s < 10) return s.toFixed(2) + ' s';
    return s.toFixed(1) + ' s';
  }

  function fmtRate(r) {
    if (r === null || r === undefined) return '\\u2013';
    var p = r * 100;
    return (p >= 99.95 || p === 0 ? p.toFixed(0) : p.toFixed(1)) + '%';
  }

  function fmtInt(n) { return n === null || n === undefined ? '\\u2013' : Math.round(n).toLocaleString(); }

  function fmtPerSecond(n) {
    if (n === null || n === undefined) return '\\u2013';
    return n >= 100 ? Math.round(n).toLocaleString() : n.toFixed(1);
  }

  function ago(iso, now) {
    var s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  function trendCell(t) {
    if (t === 'unknown') {
      var u = el('span', 'trend unknown', '\\u2013');
      u.title = 'trend unknown: too few samples in the window or the hour before';
      return u;
    }
    var arrow = { degrading: '\\u2197 ', improving: '\\u2198 ', stable: '\\u2192 ' }[t] || '';
    var span = el('span', 'trend ' + t, arrow);
    span.appendChild(el('span', 'tlabel', t));
    span.title = 'trend: ' + t;
    return span;
  }

  function pill(h) {
    var p = el('span', 'pill ' + healthClass(h), fmtHealth(h));
    p.title = 'health 0 to 100';
    return p;
  }

  function downBadge() {
    var b = el('span', 'badge down', 'down');
    b.title = 'down: not one quote answered in the window, only timeouts and errors';
    return b;
  }

  function replace(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    for (var i = 0; i < children.length; i++) node.appendChild(children[i]);
  }

  function renderTiles(stats) {
    var h = stats.health;
    $('health').textContent = fmtHealth(h);
    $('health').className = 'value ' + healthClass(h);
    var w = stats.quotes.window;
    $('health-sub').textContent = h === null ? 'no quote outcomes in the window' : 'quote path, last ' + Math.round(w.seconds / 60) + ' min';
    var d = stats.devices;
    $('online').textContent = fmtInt(d.online);
    $('online-sub').textContent = fmtInt(d.offline) + ' offline \\u00b7 ' + fmtInt(d.tracked) + ' tracked';
    $('rate').textContent = fmtPerSecond(stats.messages.perSecond);
    $('rate-sub').textContent = fmtInt(stats.messages.total) + ' messages in all';
    $('p95').textContent = fmtSeconds(w.p95LatencySeconds);
    $('p95-sub').textContent = fmtRate(w.responseRate) + ' answered \\u00b7 ' + fmtInt(w.timeouts) + ' timeouts';
  }

  function renderWorst(stats) {
    var rows = [];
    var list = stats.worstSymbols;
    for (var i = 0; i < list.length; i++) {
      var s = list[i];
      var tr = el('tr');
      tr.setAttribute('data-symbol', s.symbol);
      if (s.down) tr.setAttribute('data-down', 'true');
      tr.appendChild(el('td', 'rank hide-narrow', s.rank));
      var sym = el('td', 'sym', s.symbol);
      sym.title = s.symbol;
      tr.appendChild(sym);
      tr.appendChild(el('td', 'muted hide-narrow', s.stream));
      var hc = el('td');
      hc.appendChild(pill(s.health));
      if (s.down) hc.appendChild(downBadge());
      tr.appendChild(hc);
      tr.appendChild(el('td', 'num', fmtSeconds(s.window.p95LatencySeconds)));
      var to = el('td', 'num' + (s.window.timeouts > 0 ? ' bad' : ''), fmtInt(s.window.timeouts) + ' / ' + fmtInt(s.window.requests));
      to.title = 'timeouts / requests in the window';
      tr.appendChild(to);
      var tc = el('td');
      tc.appendChild(trendCell(s.trend));
      tr.appendChild(tc);
      rows.push(tr);
    }
    replace($('worst-body'), rows);
    $('worst-empty').hidden = list.length > 0;
    $('worst-min').textContent = settings ? String(settings.rankingMinRequests) : '';
  }

  function chart(history, objective) {
    var n = history.p95LatencySeconds.length;
    var W = 240, H = 56, top = 4, base = 46;
    var peak = null;
    for (var i = 0; i < n; i++) {
      var v = history.p95LatencySeconds[i];
      if (v !== null && (peak === null || v > peak)) peak = v;
    }
    var max = Math.max(objective, peak === null ? 0 : peak) * 1.15;
    var s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', class: 'chart', role: 'img' });
    s.appendChild(svg('line', { x1: 0, x2: W, y1: base + 0.5, y2: base + 0.5, class: 'axis' }));
    var oy = base - (objective / max) * (base - top);
    s.appendChild(svg('line', { x1: 0, x2: W, y1: oy, y2: oy, class: 'objective' }));
    var step = W / n;
    var segs = [], seg = [];
    for (var j = 0; j < n; j++) {
      var p = history.p95LatencySeconds[j];
      var x = (j + 0.5) * step;
      if (p === null) {
        if (seg.length) segs.push(seg);
        seg = [];
      } else {
        seg.push([x, base - (p / max) * (base - top)]);
      }
      var r = history.responseRate[j];
      if (r !== null && settings && r < settings.objectiveResponseRate) {
        var fh = Math.max(2, (1 - r) * 8);
        s.appendChild(svg('rect', { x: j * step + 0.5, y: H - fh, width: Math.max(1, step - 1), height: fh, class: 'fail' }));
      }
    }
    if (seg.length) segs.push(seg);
    for (var k = 0; k < segs.length; k++) {
      var pts = segs[k];
      if (pts.length === 1) pts = [[pts[0][0] - step / 2, pts[0][1]], [pts[0][0] + step / 2, pts[0][1]]];
      var d = pts.map(function (q) { return q[0].toFixed(1) + ',' + q[1].toFixed(1); }).join(' ');
      var area = pts[0][0].toFixed(1) + ',' + base + ' ' + d + ' ' + pts[pts.length - 1][0].toFixed(1) + ',' + base;
      s.appendChild(svg('polygon', { points: area, class: 'area' }));
      s.appendChild(svg('polyline', { points: d, class: 'line' }));
    }
    var title = svg('title', {});
    title.textContent = 'p95 latency per minute over the last hour; dashed: objective; red: minutes below the response-rate objective';
    s.appendChild(title);
    return { svg: s, peak: peak };
  }

  function renderStreams(list) {
    // A stream no request ever went to (unmapped, before any page or unknown symbol) says nothing.
    // Down first, then by health, worst first.
    var sorted = list.filter(function (s) { return s.totals.requests > 0; }).sort(function (a, b) {
      var ha = a.health === null ? 101 : a.health, hb = b.health === null ? 101 : b.health;
      return (b.down ? 1 : 0) - (a.down ? 1 : 0) || ha - hb || (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0);
    });
    var cards = [];
    for (var i = 0; i < sorted.length; i++) {
      var st = sorted[i];
      var hc = healthClass(st.health);
      var card = el('div', 'stream ' + hc);
      card.setAttribute('data-stream', st.stream);
      card.setAttribute('data-health', hc);
      var head = el('div', 'head');
      var name = el('span', 'name', st.stream);
      name.title = st.stream;
      head.appendChild(name);
      var right = el('span');
      right.appendChild(pill(st.health));
      if (st.down) {
        card.setAttribute('data-down', 'true');
        right.appendChild(downBadge());
      }
      head.appendChild(right);
      card.appendChild(head);
      var figs = el('div', 'figs');
      var w = st.window;
      [['p95 ', fmtSeconds(w.p95LatencySeconds)], ['answered ', fmtRate(w.responseRate)], ['requests ', fmtInt(w.requests)]].forEach(function (f) {
        var span = el('span', null, f[0]);
        span.appendChild(el('b', null, f[1]));
        figs.appendChild(span);
      });
      if (st.trend !== 'unknown') figs.appendChild(trendCell(st.trend));
      card.appendChild(figs);
      var c = chart(st.history, settings ? settings.objectiveP95LatencySeconds : 2);
      card.appendChild(c.svg);
      var legend = el('div', 'chart-legend');
      legend.appendChild(el('span', null, '\\u2212 60 min'));
      legend.appendChild(el('span', null, 'peak p95 ' + fmtSeconds(c.peak)));
      legend.appendChild(el('span', null, 'now'));
      card.appendChild(legend);
      cards.push(card);
    }
    replace($('streams'), cards);
    $('streams-empty').hidden = sorted.length > 0;
  }

  function renderOffline(stats, now) {
    var items = [];
    var list = stats.devices.recentlyOffline;
    for (var i = 0; i < list.length; i++) {
      var ev = list[i];
      var li = el('li');
      li.setAttribute('data-device', ev.device);
      var left = el('span');
      left.appendChild(el('span', 'dev', ev.device));
      if (ev.online) left.appendChild(el('span', 'badge', 'back'));
      li.appendChild(left);
      var right = el('span', 'muted', ev.firmware + ' \\u00b7 ' + ago(ev.at, now));
      right.title = 'offline at ' + ev.at + ', last heard ' + ev.lastHeardAt;
      li.appendChild(right);
      items.push(li);
    }
    replace($('offline'), items);
    $('offline-empty').hidden = list.length > 0;
  }

  function setStatus(text, stale) {
    var s = $('status');
    s.textContent = text;
    s.className = stale ? 'stale' : '';
  }

  function get(path) {
    return fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) {
        location.reload();
        throw new Error('signed out');
      }
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function update() {
    return Promise.all([get('api/v1/stats'), get('api/v1/streams')]).then(function (res) {
      var stats = res[0];
      settings = stats.settings;
      var now = Date.now();
      renderTiles(stats);
      renderWorst(stats);
      renderStreams(res[1].streams);
      renderOffline(stats, now);
      lastOk = now;
      updates++;
      document.body.setAttribute('data-updates', String(updates));
      document.body.setAttribute('data-generated-at', stats.generatedAt);
      setStatus('updated ' + new Date(stats.generatedAt).toLocaleTimeString() + ' \\u00b7 every ' + POLL_MS / 1000 + ' s', false);
    }).catch(function (err) {
      var since = lastOk ? ' \\u00b7 last update ' + ago(new Date(lastOk).toISOString(), Date.now()) : '';
      setStatus('cannot reach the exporter (' + err.message + ')' + since, Date.now() - lastOk > STALE_AFTER_MS);
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (document.hidden) return schedule();
      update().then(schedule);
    }, POLL_MS);
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && Date.now() - lastOk > POLL_MS) update().then(schedule);
  });
  update().then(schedule);
})();
`;
