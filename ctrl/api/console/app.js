/* port53 web console: read-only pages over the control API's JSON
 * (docs/console.md). Every value is put in the page as text, never as markup. */
'use strict';

const REFRESH_MS = 2000;
const COLORS = ['#2f6fde', '#d64545', '#1f9d55', '#d9822b', '#8e44ad', '#16a2b8',
                '#7f8c8d', '#c0392b', '#27ae60', '#f39c12'];
const RCODE_COLOR = {NOERROR: '#1f9d55', NXDOMAIN: '#2f6fde', REFUSED: '#d9822b',
                     SERVFAIL: '#d64545', FORMERR: '#8e44ad', NOTIMP: '#7f8c8d',
                     BADVERS: '#16a2b8'};
const SVG = 'http://www.w3.org/2000/svg';

let timer = null;
let charts = [];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined)
    e.append(typeof k === 'string' || typeof k === 'number' ? String(k) : k);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function get(url) {
  const r = await fetch(url, {cache: 'no-store'});
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return r.json();
}

function when(t) {
  if (!t) return '-';
  return new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function fmt(n, d) { return Number(n).toLocaleString('en-US', {maximumFractionDigits: d || 0}); }

function table(id, heads, rows) {
  const t = el('table', {id});
  t.append(el('thead', {}, el('tr', {}, ...heads.map(h =>
    el('th', {class: h.endsWith('#') ? 'num' : ''}, h.replace(/#$/, ''))))));
  const b = el('tbody');
  rows.forEach(r => b.append(r));
  t.append(b);
  return t;
}

function panel(title, ...kids) {
  return el('section', {class: 'panel'}, title ? el('h2', {}, title) : null, ...kids);
}

function done(page) { document.body.dataset.ready = page; }

function destroyCharts() { charts.forEach(c => c.destroy()); charts = []; }

function lineChart(canvas, labels, datasets, ytitle, log) {
  const y = log ? {type: 'logarithmic', title: {display: true, text: ytitle}}
                : {beginAtZero: true, title: {display: true, text: ytitle}};
  const c = new Chart(canvas, {
    type: 'line',
    data: {labels, datasets},
    options: {animation: false, responsive: true, maintainAspectRatio: false,
               interaction: {mode: 'index', intersect: false},
               elements: {point: {radius: 0}, line: {borderWidth: 2, tension: 0.2}},
               scales: {y,
                        x: {ticks: {maxTicksLimit: 8}}},
               plugins: {legend: {position: 'bottom'}}}});
  charts.push(c);
  return c;
}

function barChart(canvas, labels, data, title, color) {
  const c = new Chart(canvas, {
    type: 'bar',
    data: {labels, datasets: [{label: title, data, backgroundColor: color || '#2f6fde'}]},
    options: {animation: false, responsive: true, maintainAspectRatio: false,
               indexAxis: 'y', plugins: {legend: {display: false}},
               scales: {x: {beginAtZero: true}}}});
  charts.push(c);
  return c;
}

/* ---- zones and records ------------------------------------------------- */

function recordValues(r) {
  if (r.AliasTarget) return ['alias → ' + r.AliasTarget.DNSName];
  return (r.ResourceRecords || []).map(v => v.Value);
}

function policyOf(r) {
  if (r.Weight !== undefined) return 'weighted ' + r.Weight;
  if (r.Failover) return 'failover ' + r.Failover;
  if (r.Region) return 'latency ' + r.Region;
  if (r.GeoLocation) return 'geo ' + geoText(r.GeoLocation);
  if (r.GeoProximityLocation) return 'geoproximity';
  if (r.CidrRoutingConfig) return 'cidr ' + r.CidrRoutingConfig.LocationName;
  if (r.MultiValueAnswer) return 'multivalue';
  return 'simple';
}

function geoText(g) {
  return [g.ContinentCode, g.CountryCode, g.SubdivisionCode].filter(Boolean).join('/') || '*';
}

async function pageZones(main) {
  const [zones, status] = await Promise.all([get('/v1/console/zones'), get('/v1/status')]);
  const zsel = el('select', {name: 'zone', id: 'zone'}, el('option', {value: ''}, 'all zones'),
                  ...zones.zones.map(z => el('option', {value: z.name}, z.name)));
  const types = ['', 'A', 'AAAA', 'CNAME', 'MX', 'NS', 'SOA', 'TXT', 'SRV', 'CAA', 'PTR'];
  const tsel = el('select', {name: 'type', id: 'rtype'},
                  ...types.map(t => el('option', {value: t}, t || 'any type')));
  const q = el('input', {type: 'text', name: 'q', id: 'q', placeholder: 'name, value or set id'});
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  q.value = params.get('q') || '';
  zsel.value = params.get('zone') || '';
  tsel.value = params.get('type') || '';
  const results = el('div', {id: 'results'});
  const form = el('form', {class: 'search'}, q, zsel, tsel, el('button', {type: 'submit'}, 'Search'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const p = new URLSearchParams({q: q.value, zone: zsel.value, type: tsel.value});
    location.hash = 'zones?' + p.toString();
  });
  main.append(el('h1', {}, 'Zones & records'),
    el('div', {class: 'grid'},
      panel('Zones in snapshot ' + status.serial,
        table('zones', ['Zone', 'SOA serial#'], zones.zones.map(z =>
          el('tr', {'data-zone': z.name, 'data-serial': z.serial},
             el('td', {}, el('code', {}, z.name)), el('td', {class: 'num'}, z.serial))))),
      panel('Snapshot', el('div', {class: 'kv'},
        el('div', {}, 'serial'), el('div', {}, String(status.serial)),
        el('div', {}, 'hash'), el('div', {class: 'mono'}, status.hash || '-'),
        el('div', {}, 'loaded'), el('div', {}, when(status.loaded_at)),
        el('div', {}, 'source'), el('div', {class: 'mono'}, status.source || '-')))),
    panel('Record search', form, results));
  const url = '/v1/console/records?' + new URLSearchParams(
      {q: q.value, zone: zsel.value, type: tsel.value}).toString();
  const rec = await get(url);
  results.append(el('p', {class: 'muted', id: 'count', 'data-total': rec.total},
    rec.total + ' record set' + (rec.total === 1 ? '' : 's') +
    (rec.total > rec.records.length ? ' (first ' + rec.records.length + ' shown)' : '')),
    table('records', ['Name', 'Type', 'TTL#', 'Routing', 'Set', 'Health check', 'Values'],
      rec.records.map(r => el('tr', {'data-name': r.Name, 'data-type': r.Type,
                                     'data-set': r.SetIdentifier || ''},
        el('td', {}, el('code', {}, r.Name)), el('td', {}, r.Type),
        el('td', {class: 'num'}, r.TTL === undefined ? '-' : r.TTL),
        el('td', {}, policyOf(r)), el('td', {}, r.SetIdentifier || ''),
        el('td', {}, r.HealthCheckId || ''),
        el('td', {class: 'mono'}, recordValues(r).join('\n'))))));
  done('zones');
}

/* ---- routing policies as trees ------------------------------------------ */

function policyKind(sets) {
  const r = sets[0];
  if (r.Weight !== undefined) return 'weighted';
  if (r.Failover) return 'failover';
  if (r.Region) return 'latency';
  if (r.GeoLocation) return 'geolocation';
  if (r.GeoProximityLocation) return 'geoproximity';
  if (r.CidrRoutingConfig) return 'ip-based';
  if (r.MultiValueAnswer) return 'multivalue';
  return 'simple';
}

function branchLabel(r) {
  const p = policyOf(r);
  return r.SetIdentifier + ' · ' + p.replace(/^(weighted|failover|latency|geo|cidr) /, '');
}

/* Groups record sets with a SetIdentifier by (name, type); an alias to a
 * name that is itself a policy group becomes a subtree. */
function buildTrees(records, health) {
  const groups = new Map();
  for (const r of records) {
    if (!r.SetIdentifier) continue;
    const k = r.Name + ' ' + r.Type;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  const state = new Map((health.checks || []).map(c => [c.id, c.state]));
  function node(name, type, depth, seen) {
    const sets = groups.get(name + ' ' + type);
    if (!sets || depth > 4 || seen.has(name)) return null;
    seen = new Set(seen).add(name);
    return {
      label: name + ' ' + type, kind: policyKind(sets), name, type,
      kids: sets.map(r => {
        const target = r.AliasTarget ? node(r.AliasTarget.DNSName, type, depth + 1, seen) : null;
        return {label: branchLabel(r), set: r.SetIdentifier,
                hc: r.HealthCheckId || null,
                state: r.HealthCheckId ? (state.get(r.HealthCheckId) || 'unknown') : null,
                values: recordValues(r), sub: target};
      }),
    };
  }
  const aliasTargets = new Set();
  for (const sets of groups.values())
    for (const r of sets) if (r.AliasTarget) aliasTargets.add(r.AliasTarget.DNSName + ' ' + r.Type);
  const roots = [];
  for (const k of groups.keys()) {
    if (aliasTargets.has(k)) continue; /* drawn inside its parent */
    const [name, type] = k.split(' ');
    roots.push(node(name, type, 0, new Set()));
  }
  return roots.filter(Boolean);
}

/* Lays a tree out left to right, one row per leaf; each column as wide as
 * its longest label. */
function drawTree(t) {
  const rowH = 26, pad = 10, charW = 7.2;
  let rows = 0;
  const items = [];
  function place(n, depth) {
    if (n.kids) {
      const kidY = n.kids.map(k => place(k, depth + 1));
      const y = (kidY[0] + kidY[kidY.length - 1]) / 2;
      items.push({n, depth, y, kidY});
      return y;
    }
    if (n.sub) {
      const y = place(n.sub, depth + 1);
      items.push({n, depth, y, kidY: [y]});
      return y;
    }
    const y = rows++ * rowH + rowH / 2;
    items.push({n, depth, y, kidY: []});
    return y;
  }
  place(t, 0);
  const label = n => n.kids ? n.label + ' (' + n.kind + ')' : n.label;
  const depthMax = Math.max(...items.map(i => i.depth));
  const textW = Array.from({length: depthMax + 1}, (_, d) =>
    Math.max(...items.filter(i => i.depth === d).map(i => label(i.n).length * charW + 24)));
  const colX = [pad];
  for (let d = 1; d <= depthMax + 1; d++) colX.push(colX[d - 1] + textW[d - 1] + 50);
  const extraOf = n => n.values.join(', ') + (n.hc ? '   [' + n.hc + ': ' + n.state + ']' : '');
  const extraW = Math.max(0, ...items.filter(i => !i.n.kids && !i.n.sub)
    .map(i => extraOf(i.n).length * charW));
  const W = Math.ceil(colX[depthMax + 1] + extraW + pad), H = rows * rowH + 2 * pad;
  const s = svg('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img'});
  for (const it of items) {
    const x = colX[it.depth], y = it.y + pad, xEnd = x + textW[it.depth];
    for (const ky of it.kidY) {
      const x2 = colX[it.depth + 1], y2 = ky + pad;
      s.append(svg('path', {d: `M${xEnd} ${y} C${xEnd + 30} ${y} ${x2 - 30} ${y2} ${x2 - 2} ${y2}`,
                            fill: 'none', stroke: '#b8c0cc', 'stroke-width': 1.5}));
    }
    const n = it.n;
    const fill = n.kids ? '#16213a' : n.state === 'unhealthy' ? '#d64545'
               : n.state === 'healthy' ? '#1f9d55' : '#2f6fde';
    s.append(svg('circle', {cx: x + 6, cy: y, r: 6, fill}));
    s.append(svg('text', {x: x + 16, y: y + 4, fill: '#1d2330',
                          'font-weight': n.kids ? '700' : '400'}, label(n)));
    if (!n.kids && !n.sub)
      s.append(svg('text', {x: colX[depthMax + 1], y: y + 4,
                            fill: n.state === 'unhealthy' ? '#d64545' : '#667085'}, extraOf(n)));
  }
  return s;
}

async function pagePolicies(main) {
  const [rec, health] = await Promise.all([get('/v1/console/records'), get('/v1/console/health-history')]);
  const trees = buildTrees(rec.records, health);
  main.append(el('h1', {}, 'Routing policies'),
    el('p', {class: 'muted'}, 'Each record name with routing policies, its record sets ' +
       'as branches; aliases to other policy names are drawn as subtrees. ' +
       'Green: healthy, red: unhealthy, blue: no health check.'));
  if (!trees.length) main.append(panel(null, el('p', {id: 'notrees'}, 'No routing policies in the live snapshot.')));
  for (const t of trees) {
    const leaves = [];
    (function walk(n) { (n.kids || []).forEach(k => { leaves.push(k.set); if (k.sub) walk(k.sub); }); })(t);
    main.append(panel(t.label + ' — ' + t.kind,
      el('div', {class: 'tree', 'data-name': t.name, 'data-type': t.type, 'data-policy': t.kind,
                 'data-branches': leaves.join(',')}, drawTree(t))));
  }
  done('policies');
}

/* ---- health checks -------------------------------------------------------- */

/* The state over the last ten minutes, or since the first event when that
 * is later. */
function timeline(events, now) {
  const evs = events.slice().sort((a, b) => a.t - b.t);
  const start = Math.max(now - 600, evs.length ? Math.min(evs[0].t, now - 60) : now - 600);
  const span = now - start;
  const bar = el('div', {class: 'timeline', title: 'since ' + when(start)});
  let cur = null, from = start;
  for (const e of evs) {
    if (e.t <= start) { cur = e.state; continue; }
    if (cur) bar.append(el('span', {class: cur, style: `width:${(e.t - from) / span * 100}%`}));
    cur = e.state; from = e.t;
  }
  if (cur) bar.append(el('span', {class: cur, style: `width:${(now - from) / span * 100}%`}));
  return bar;
}

async function pageHealth(main) {
  const [h, live] = await Promise.all([get('/v1/console/health-history'), get('/v1/health').catch(() => ({checks: []}))]);
  const liveBy = new Map((live.checks || []).map(c => [c.id, c]));
  main.append(el('h1', {}, 'Health checks'));
  if (!h.configured) {
    main.append(panel(null, el('p', {id: 'nochecks'}, 'No health checks configured.')));
    done('health');
    return;
  }
  const now = Date.now() / 1000;
  main.append(panel('State and history',
    table('checks', ['Check', 'Type', 'State', 'Last result', 'Checkers', 'History (≤ 10 min)', 'Changes#'],
      h.checks.map(c => {
        const l = liveBy.get(c.id) || {};
        const ck = l.checkers || {};
        return el('tr', {'data-check': c.id, 'data-state': c.state, 'data-events': c.events.length},
          el('td', {}, el('code', {}, c.id)), el('td', {}, c.type),
          el('td', {}, el('span', {class: 'badge ' + c.state}, c.state)),
          el('td', {}, l.last_result || ''),
          el('td', {}, ck.reporting ? ck.healthy + '/' + ck.reporting : '-'),
          el('td', {}, timeline(c.events, now)),
          el('td', {class: 'num'}, c.events.length));
      }))));
  const evs = [];
  h.checks.forEach(c => c.events.forEach(e => evs.push({id: c.id, ...e})));
  evs.sort((a, b) => b.t - a.t);
  main.append(panel('State changes, newest first',
    table('events', ['When', 'Check', 'State', 'Result'], evs.map(e =>
      el('tr', {'data-check': e.id, 'data-state': e.state},
        el('td', {}, when(e.t)), el('td', {}, el('code', {}, e.id)),
        el('td', {}, el('span', {class: 'badge ' + e.state}, e.state)),
        el('td', {}, e.result))))));
  done('health');
}

/* ---- traffic and latency --------------------------------------------------- */

async function pageTraffic(main) {
  const [series, stats, snaps] = await Promise.all([get('/v1/console/series'), get('/v1/stats'),
                                                    get('/v1/console/snapshots')]);
  const s = series.samples;
  const labels = s.map(x => new Date(x.t * 1000).toISOString().substr(11, 8));
  const rcodes = [...new Set(s.flatMap(x => Object.keys(x.rcode)))]
    .filter(r => s.some(x => x.rcode[r] > 0) || r === 'NOERROR');
  const nworkers = Math.max(0, ...s.map(x => x.workers.length));
  const last = s.length ? s[s.length - 1] : {rcode: {}, workers: []};
  const totals = (stats.total || {}).responses || {};
  const c1 = el('canvas', {id: 'rcodeChart'}), c2 = el('canvas', {id: 'workerChart'}),
        c3 = el('canvas', {id: 'swapChart'}), c4 = el('canvas', {id: 'latencyChart'}),
        c5 = el('canvas', {id: 'busyChart'});
  const nbusy = Math.max(0, ...s.map(x => (x.busy || []).length));
  const answered = s.filter(x => x.p50_us > 0), lastLat = answered[answered.length - 1];
  main.append(el('h1', {}, 'Traffic & latency'),
    el('div', {class: 'grid'},
      panel('Answers per second by rcode', el('div', {class: 'chartbox'}, c1)),
      panel('Answers per second by worker', el('div', {class: 'chartbox'}, c2))),
    el('div', {class: 'grid'},
      panel('Time in the server per answer (at most, µs; power-of-two buckets)',
        el('div', {class: 'chartbox'}, c4),
        el('p', {id: 'latencyNow', 'data-p50': lastLat ? lastLat.p50_us : '',
                 'data-p99': lastLat ? lastLat.p99_us : ''},
          lastLat ? 'last second with answers: median ≤ ' + fmt(lastLat.p50_us, 1) +
                    ' µs, 99th percentile ≤ ' + fmt(lastLat.p99_us, 1) + ' µs'
                  : 'no answers yet')),
      panel('Busy fraction by worker (time spent on frames, not waiting)',
        el('div', {class: 'chartbox'}, c5))),
    el('div', {class: 'grid'},
      panel('Now',
        table('rates', ['Rcode', 'per second#', 'total#'], Object.keys(totals).map(r =>
          el('tr', {'data-rcode': r, 'data-total': totals[r]},
            el('td', {}, r), el('td', {class: 'num'}, fmt(last.rcode[r] || 0, 1)),
            el('td', {class: 'num'}, fmt(totals[r])))))),
      panel('Snapshot swap latency (publish to old snapshot freed), per generation',
        el('div', {class: 'chartbox'}, c3))));
  lineChart(c1, labels, rcodes.map((r, i) => ({label: r, data: s.map(x => x.rcode[r] || 0),
    borderColor: RCODE_COLOR[r] || COLORS[i % COLORS.length],
    backgroundColor: RCODE_COLOR[r] || COLORS[i % COLORS.length]})), 'answers/s');
  lineChart(c2, labels, Array.from({length: nworkers}, (_, w) => ({label: 'worker ' + w,
    data: s.map(x => x.workers[w] || 0), borderColor: COLORS[w % COLORS.length],
    backgroundColor: COLORS[w % COLORS.length]})), 'answers/s');
  lineChart(c4, labels, [
    {label: 'median', data: s.map(x => x.p50_us || null), borderColor: COLORS[0],
     backgroundColor: COLORS[0]},
    {label: '99th percentile', data: s.map(x => x.p99_us || null), borderColor: COLORS[1],
     backgroundColor: COLORS[1]}], 'µs (log scale)', true);
  lineChart(c5, labels, Array.from({length: nbusy}, (_, w) => ({label: 'worker ' + w,
    data: s.map(x => 100 * ((x.busy || [])[w] || 0)), borderColor: COLORS[w % COLORS.length],
    backgroundColor: COLORS[w % COLORS.length]})), '% busy');
  const gens = snaps.generations.filter(g => g.generation > 1);
  barChart(c3, gens.map(g => 'gen ' + g.generation + ' (serial ' + g.serial + ')'),
           gens.map(g => g.swap_us), 'µs', '#8e44ad');
  done('traffic');
}

/* ---- firewall ---------------------------------------------------------------- */

async function pageFirewall(main) {
  const [stats, series] = await Promise.all([get('/v1/stats'), get('/v1/console/series')]);
  const hits = (stats.total || {}).firewall_hits;
  main.append(el('h1', {}, 'DNS Firewall'));
  if (!hits) {
    main.append(panel(null, el('p', {id: 'nofirewall'}, 'No DNS Firewall loaded.')));
    done('firewall');
    return;
  }
  const s = series.samples, last = s.length ? s[s.length - 1].firewall : {};
  const rules = Object.keys(hits).sort((a, b) => hits[b] - hits[a]);
  const c = el('canvas', {id: 'fwChart'}), c2 = el('canvas', {id: 'fwRateChart'});
  main.append(el('div', {class: 'grid'},
    panel('Hits per rule', table('fwrules', ['Rule', 'Hits#', 'per second#'], rules.map(r =>
      el('tr', {'data-rule': r, 'data-hits': hits[r]},
        el('td', {}, el('code', {}, r)), el('td', {class: 'num'}, fmt(hits[r])),
        el('td', {class: 'num'}, fmt(last[r] || 0, 1)))))),
    panel('Hits since the rules were loaded', el('div', {class: 'chartbox'}, c))),
    panel('Hits per second', el('div', {class: 'chartbox'}, c2)));
  barChart(c, rules, rules.map(r => hits[r]), 'hits', '#d64545');
  lineChart(c2, s.map(x => new Date(x.t * 1000).toISOString().substr(11, 8)),
    rules.slice(0, 10).map((r, i) => ({label: r, data: s.map(x => x.firewall[r] || 0),
      borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length]})),
    'hits/s');
  done('firewall');
}

/* ---- snapshots ------------------------------------------------------------------ */

async function pageSnapshots(main) {
  const [snaps, status] = await Promise.all([get('/v1/console/snapshots'), get('/v1/status')]);
  main.append(el('h1', {}, 'Snapshots'),
    panel('Live', el('div', {class: 'kv', id: 'live', 'data-serial': status.serial,
                             'data-swaps': snaps.swaps},
      el('div', {}, 'serial'), el('div', {}, String(status.serial)),
      el('div', {}, 'hash'), el('div', {class: 'mono'}, status.hash || '-'),
      el('div', {}, 'loaded'), el('div', {}, when(status.loaded_at)),
      el('div', {}, 'source'), el('div', {class: 'mono'}, status.source || '-'),
      el('div', {}, 'swaps'), el('div', {}, String(snaps.swaps)),
      el('div', {}, 'failed loads'), el('div', {}, String(snaps.failed_loads)),
      el('div', {}, 'last swap'), el('div', {}, fmt(status.last_swap_latency_us, 1) + ' µs (max ' +
                                          fmt(status.max_swap_latency_us, 1) + ' µs)'),
      el('div', {}, 'last error'), el('div', {class: snaps.last_error ? 'error' : ''},
        snaps.last_error ? when(snaps.last_error.at) + ': ' + snaps.last_error.error : 'none'))),
    panel('Generations seen by this console, newest first',
      table('generations', ['Generation#', 'Serial#', 'Loaded', 'Source', 'Zones#', 'Verify ms#', 'Swap µs#', 'Hash'],
        snaps.generations.slice().reverse().map(g =>
          el('tr', {'data-generation': g.generation, 'data-serial': g.serial},
            el('td', {class: 'num'}, g.generation), el('td', {class: 'num'}, g.serial),
            el('td', {}, when(g.loaded_at)), el('td', {class: 'mono'}, g.source),
            el('td', {class: 'num'}, g.zones), el('td', {class: 'num'}, fmt(g.verify_ms, 2)),
            el('td', {class: 'num'}, g.generation > 1 ? fmt(g.swap_us, 1) : '-'),
            el('td', {class: 'mono'}, g.hash_prefix))))));
  done('snapshots');
}

/* ---- routing ---------------------------------------------------------------------- */

const PAGES = {zones: pageZones, policies: pagePolicies, health: pageHealth,
               traffic: pageTraffic, firewall: pageFirewall, snapshots: pageSnapshots};
const LIVE = new Set(['health', 'traffic', 'firewall', 'snapshots']);

async function show() {
  const page = (location.hash.slice(1).split('?')[0]) || 'zones';
  const fn = PAGES[page] || pageZones;
  document.querySelectorAll('#nav a').forEach(a =>
    a.classList.toggle('active', a.dataset.page === page));
  const main = el('main', {id: 'main'});
  document.getElementById('main').replaceWith(main);
  delete document.body.dataset.ready;
  try {
    await fn(main);
  } catch (e) {
    main.append(panel(null, el('p', {class: 'error', id: 'error'}, String(e))));
    done('error');
  }
  if (timer) clearTimeout(timer);
  /* ?refresh=0 keeps a page still (screenshots, tests). */
  const still = new URLSearchParams(location.search).get('refresh') === '0';
  if (LIVE.has(page) && !still)
    timer = setTimeout(() => { destroyCharts(); show(); }, REFRESH_MS);
}

async function header() {
  try {
    const s = await get('/v1/status');
    document.getElementById('server').textContent =
      s.server + ' · serial ' + s.serial + ' · ' + (s.zones || []).length + ' zones';
  } catch (e) { /* the page shows the error */ }
}

window.addEventListener('hashchange', () => { destroyCharts(); show(); });
header();
show();
