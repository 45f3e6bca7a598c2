#include "collector/web/assets.h"

namespace parallax::collector::web {

// Readable on a phone: tables scroll sideways inside .scroll, the page
// itself never does; cells wrap.
const std::string_view kStyleCss = R"CSS(
:root { color-scheme: light dark; --good: #1a7f37; --warn: #9a6700; --bad: #cf222e;
  --none: #6e7781; --bg-good: #dafbe1; --bg-warn: #fff8c5; --bg-bad: #ffebe9; --bg-none: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.4 system-ui, sans-serif; margin: 0; padding: 0 0.75rem 2rem; }
header { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: baseline;
  padding: 0.6rem 0; border-bottom: 1px solid #d0d7de; }
header .home { font-weight: 700; font-size: 1.2rem; text-decoration: none; }
#updated { margin-left: auto; color: var(--none); font-size: 0.85rem; }
h1 { font-size: 1.3rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin-top: 1.5rem; }
h3 { font-size: 1rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
.matrix th, .matrix td, td:first-child, thead th { white-space: nowrap; }
td { max-width: 28rem; }
thead th { position: sticky; top: 0; background: var(--bg-none); color: #24292f; }
.matrix th.target { position: sticky; left: 0; background: var(--bg-none); color: #24292f; }
.host { color: var(--none); font-size: 0.8rem; font-weight: normal; }
.good { color: var(--good); background: var(--bg-good); }
.warn { color: var(--warn); background: var(--bg-warn); }
.bad { color: var(--bad); background: var(--bg-bad); }
.none { color: var(--none); background: var(--bg-none); }
.badge { padding: 0.1rem 0.5rem; border-radius: 1rem; font-weight: 600; }
.summary { font-size: 1.05rem; }
.prebanner { font-size: 0.8rem; color: var(--none); }
code, pre { font: 0.85rem ui-monospace, monospace; }
pre { overflow-x: auto; white-space: pre; background: var(--bg-none); color: #24292f; padding: 0.5rem; }
tr.closed { opacity: 0.75; }
.check-form { display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: center; }
.check-form input[type=text] { flex: 1 1 14rem; min-width: 0; font: inherit; padding: 0.3rem; }
.check-form input[type=number] { width: 5rem; font: inherit; padding: 0.3rem; }
.check-form button, button.check-row { font: inherit; padding: 0.3rem 0.7rem; cursor: pointer; }
button.check-row { display: block; margin-top: 0.2rem; font-size: 0.75rem; padding: 0.1rem 0.4rem; }
.check-status.running { color: var(--warn); }
.check-status.bad { color: var(--bad); }
.check-verdict .summary { font-weight: 600; }
@media (max-width: 600px) { body { font-size: 14px; } td { max-width: 16rem; } }
)CSS";

// Plain JavaScript. Text goes in with textContent, never innerHTML.
const std::string_view kAppJs = R"JS('use strict';
(function () {
  var REFRESH_MS = 5000;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function link(href, text) {
    var a = el('a', text);
    a.setAttribute('href', href);
    return a;
  }
  function fixed(v, digits) { return Number(v).toFixed(digits); }
  function replaceBody(table, rows, colspan, empty) {
    var old = table.tBodies[0];
    var body = document.createElement('tbody');
    rows.forEach(function (r) { body.appendChild(r); });
    if (rows.length === 0) {
      var tr = el('tr'), td = el('td', empty);
      td.setAttribute('colspan', String(colspan));
      tr.appendChild(td);
      body.appendChild(tr);
    }
    table.replaceChild(body, old);
  }
  function setUpdated(doc) {
    var u = document.getElementById('updated');
    if (u) { u.textContent = 'updated ' + doc.updated; u.className = ''; }
  }
  function markStale(err) {
    var u = document.getElementById('updated');
    if (u) { u.textContent = 'not updated: ' + err; u.className = 'warn'; }
  }

  // The cell text of `parallax status`.
  function cellText(p) {
    if (p.outcome === 'none') return '-';
    var s = p.outcome;
    if (p.outcome === 'ok') s += ' ' + fixed(p.connect_ms, 1) + 'ms';
    if (p.age_s > 120) s += ' (' + fixed(p.age_s, 0) + 's ago)';
    return s;
  }

  function renderMatrix(doc) {
    var table = document.getElementById('matrix');
    var names = [], seen = {};
    doc.status.probes.forEach(function (p) {
      if (!seen[p.name]) { seen[p.name] = 1; names.push(p.name); }
    });
    doc.status.targets.forEach(function (t) {
      t.probes.forEach(function (p) {
        if (!seen[p.probe]) { seen[p.probe] = 1; names.push(p.probe); }
      });
    });
    var head = el('tr');
    head.appendChild(el('th', 'target'));
    head.appendChild(el('th', 'cause'));
    names.forEach(function (n) { head.appendChild(el('th', n)); });
    var thead = document.createElement('thead');
    thead.appendChild(head);
    table.replaceChild(thead, table.tHead);
    var rows = doc.status.targets.map(function (t) {
      var tr = el('tr');
      var th = el('th', null, 'target');
      th.appendChild(link(t.href, t.name));
      th.appendChild(el('div', t.host + ':' + t.port, 'host'));
      if (canCheck()) {
        var b = el('button', 'check now', 'check-row');
        b.type = 'button';
        b.setAttribute('data-target', checkTargetText(t.host, t.port));
        th.appendChild(b);
      }
      tr.appendChild(th);
      var cause = el('td', t.cause, 'cause ' + t['class']);
      cause.title = t.summary;
      tr.appendChild(cause);
      var cells = {};
      t.probes.forEach(function (p) { cells[p.probe] = p; });
      names.forEach(function (n) {
        var p = cells[n];
        if (!p) { tr.appendChild(el('td', '\u00b7', 'outcome none')); return; }
        var td = el('td', cellText(p), 'outcome ' + p['class']);
        var title = p.probe + (p.connected ? '' : ' (disconnected)');
        if (p.banner) title += '\n' + p.banner;
        if (p.detail) title += '\n' + p.detail;
        td.title = title;
        tr.appendChild(td);
      });
      return tr;
    });
    replaceBody(table, rows, 2, '(no targets configured)');
  }

  function renderIncidents(doc) {
    var table = document.getElementById('incidents');
    var rows = doc.incidents.map(function (i) {
      var tr = el('tr', null, i.open ? 'open' : 'closed');
      var td = el('td');
      td.appendChild(link(i.href, i.target));
      tr.appendChild(td);
      var c = el('td');
      c.appendChild(el('span', i.cause, 'badge ' + i['class']));
      tr.appendChild(c);
      tr.appendChild(el('td', i.opened));
      tr.appendChild(el('td', i.duration));
      tr.appendChild(el('td', i.open ? 'open' : 'closed ' + i.closed));
      tr.appendChild(el('td', i.summary));
      return tr;
    });
    replaceBody(table, rows, 6, '(no incidents)');
  }

  function renderProbes(doc) {
    var table = document.getElementById('probes');
    var rows = doc.status.probes.map(function (p) {
      var tr = el('tr');
      tr.appendChild(el('td', p.name));
      var labels = Object.keys(p.labels).sort().map(function (k) {
        return k + '=' + p.labels[k];
      });
      tr.appendChild(el('td', labels.join(', ')));
      tr.appendChild(el('td', p.connected ? 'yes' : 'no', p.connected ? 'good' : 'bad'));
      var h = doc.health[p.name];
      tr.appendChild(h ? el('td', h.healthy ? 'healthy' : 'unhealthy: ' + h.reason,
                            h.healthy ? 'good' : 'bad')
                       : el('td', '-', 'none'));
      var off = p.clock_offset_s;
      var clock = off === null ? '-' : (off >= 0 ? '+' : '') + fixed(off, 3) + ' s';
      tr.appendChild(el('td', clock, off !== null && Math.abs(off) > 2 ? 'warn' : ''));
      tr.appendChild(el('td', p.last_seen_age_s < 0 ? '-' : fixed(p.last_seen_age_s, 0) + ' s ago'));
      tr.appendChild(el('td', p.version));
      return tr;
    });
    replaceBody(table, rows, 7, '(no probes)');
  }

  function renderTarget(doc) {
    if (doc.verdicts.length !== 1) return;
    var v = doc.verdicts[0];
    var summary = document.getElementById('summary');
    if (summary) summary.textContent = v.summary;
    var badge = document.querySelector('.verdict .badge');
    if (badge) { badge.textContent = v.cause; badge.className = 'badge ' + v['class']; }
    var table = document.getElementById('evidence');
    if (!table) return;
    var rows = v.evidence.map(function (e) {
      var tr = el('tr');
      tr.appendChild(el('td', e.probe));
      tr.appendChild(el('td', e.network));
      tr.appendChild(el('td', e.outcome, e['class']));
      tr.appendChild(el('td', e.connect_ms > 0 ? fixed(e.connect_ms, 1) + 'ms' : '-'));
      tr.appendChild(el('td', e.role));
      tr.appendChild(el('td', e.detail));
      return tr;
    });
    replaceBody(table, rows, 6, '(no evidence yet)');
  }

  // The "check now" box: POST /api/check {target, timeout_s}, then GET
  // /api/check/ID every 300 ms until the verdict; each probe's row as it
  // arrives, then the verdict in the words of `parallax check`.
  var CHECK_POLL_MS = 300, CHECK_MAX_POLLS = 1200;  // 6 minutes at most
  function checkTargetText(host, port) {
    return (host.indexOf(':') >= 0 ? '[' + host + ']' : host) + ':' + port;
  }
  function canCheck() {
    var b = document.getElementById('check-run');
    return !!b && !b.disabled;
  }
  function setupCheck() {
    var form = document.getElementById('check-form');
    if (!form) return;
    var input = document.getElementById('check-target');
    var timeout = document.getElementById('check-timeout');
    var button = document.getElementById('check-run');
    var status = document.getElementById('check-status');
    var table = document.getElementById('check-results');
    var verdict = document.getElementById('check-verdict');
    var details = document.getElementById('check-details');
    var text = document.getElementById('check-text');
    var generation = 0;
    function say(message, cls) {
      status.textContent = message;
      status.className = 'check-status' + (cls ? ' ' + cls : '');
    }
    function renderRows(doc) {
      var rows = doc.results.map(function (r) {
        var tr = el('tr');
        tr.appendChild(el('td', r.probe));
        tr.appendChild(el('td', r.labels && r.labels.network ? r.labels.network : '-'));
        tr.appendChild(el('td', r.outcome, r['class']));
        tr.appendChild(el('td', r.connect_ms > 0 ? fixed(r.connect_ms, 1) + 'ms' : '-'));
        tr.appendChild(el('td', r.banner ? r.banner : r.detail));
        tr.appendChild(el('td', fixed(r.elapsed_s, 2) + ' s'));
        return tr;
      });
      replaceBody(table, rows, 6, doc.done ? '(no probe answered)' : '(waiting for the probes)');
      table.hidden = false;
    }
    function renderVerdict(doc) {
      while (verdict.firstChild) verdict.removeChild(verdict.firstChild);
      verdict.removeAttribute('data-cause');
      if (!doc.done || !doc.verdict) return;
      var v = doc.verdict;
      var p = el('p');
      p.appendChild(el('span', v.cause, 'badge ' + v['class']));
      p.appendChild(document.createTextNode(' ' + doc.host + ':' + doc.port + ', confidence ' +
                                            fixed(v.confidence * 100, 0) + '%'));
      verdict.appendChild(p);
      verdict.appendChild(el('p', v.summary, 'summary check-summary'));
      if (v.remediation && v.remediation.length) {
        var ol = el('ol');
        v.remediation.forEach(function (r) { ol.appendChild(el('li', r)); });
        verdict.appendChild(ol);
      }
      if (doc.unanswered.length) {
        verdict.appendChild(el('p', 'No answer in time from: ' + doc.unanswered.join(', '), 'warn'));
      }
      verdict.setAttribute('data-cause', v.cause);
    }
    function render(doc) {
      renderRows(doc);
      renderVerdict(doc);
      var first = String(doc.text).split('\n')[0];
      say(doc.done ? 'Done in ' + fixed(doc.elapsed_s, 2) + ' s: ' + first : first + ' ...',
          doc.done ? '' : 'running');
      doc.not_asked.forEach(function (n) { status.appendChild(el('div', 'not asked: ' + n.probe + ' (' + n.reason + ')', 'host')); });
      text.textContent = doc.text;
      details.hidden = false;
    }
    function fail(message) {
      say(message, 'bad');
      button.disabled = false;
    }
    function poll(id, mine, count) {
      if (mine !== generation) return;
      fetch('/api/check/' + encodeURIComponent(id), { cache: 'no-store', credentials: 'same-origin' })
        .then(function (r) {
          return r.json().then(function (doc) {
            if (!r.ok) throw new Error(doc.error || ('HTTP ' + r.status));
            return doc;
          });
        })
        .then(function (doc) {
          if (mine !== generation) return;
          render(doc);
          if (doc.done) { button.disabled = false; return; }
          if (count >= CHECK_MAX_POLLS) { fail('gave up waiting for the verdict'); return; }
          window.setTimeout(function () { poll(id, mine, count + 1); }, CHECK_POLL_MS);
        })
        .catch(function (e) { if (mine === generation) fail(e.message); });
    }
    function run() {
      var target = input.value.trim();
      if (!target) { fail('type HOST[:PORT] first'); return; }
      var body = { target: target };
      if (timeout.value !== '') body.timeout_s = Number(timeout.value);
      var mine = ++generation;
      button.disabled = true;
      table.hidden = true;
      details.hidden = true;
      text.textContent = '';
      renderVerdict({ done: false });
      say('Starting a check of ' + target + ' ...', 'running');
      fetch('/api/check', {
        method: 'POST', cache: 'no-store', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
      })
        .then(function (r) {
          return r.json().then(function (doc) {
            if (r.status !== 202) throw new Error(doc.error || ('HTTP ' + r.status));
            return doc;
          });
        })
        .then(function (doc) { poll(doc.id, mine, 0); })
        .catch(function (e) { if (mine === generation) fail(e.message); });
    }
    form.addEventListener('submit', function (e) { e.preventDefault(); if (canCheck()) run(); });
    var matrix = document.getElementById('matrix');
    if (matrix) {
      matrix.addEventListener('click', function (e) {
        var b = e.target && e.target.closest ? e.target.closest('button.check-row') : null;
        if (!b || !canCheck()) return;
        input.value = b.getAttribute('data-target');
        run();
        form.scrollIntoView();
      });
    }
  }
  setupCheck();

  var url = null, render = null;
  if (document.getElementById('matrix')) {
    url = '/api/status';
    render = function (doc) {
      renderMatrix(doc); renderIncidents(doc); renderProbes(doc); setUpdated(doc);
    };
  } else if (document.getElementById('evidence') &&
             location.pathname.indexOf('/target/') === 0) {
    url = '/api/target/' + location.pathname.substring('/target/'.length);
    render = function (doc) { renderTarget(doc); setUpdated(doc); };
  }
  if (!url) return;
  var busy = false;
  function poll() {
    if (busy) return;
    busy = true;
    fetch(url, { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (doc) { render(doc); document.body.setAttribute('data-refreshed', doc.now_unix_ms); })
      .catch(function (e) { markStale(e.message); })
      .then(function () { busy = false; });
  }
  window.setInterval(poll, REFRESH_MS);
  window.setTimeout(poll, 300);
})();
)JS";

}  // namespace parallax::collector::web
