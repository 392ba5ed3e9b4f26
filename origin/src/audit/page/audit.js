// The audit dashboard (/audit): one tenant's decisions, sign-ins and check latency over a time range, from
// GET /audit/data/stats (the origin's AuditStats). Plain JavaScript, no build step; charts by uPlot (loaded
// before this file). Every value from the server is written with textContent or drawn on a canvas, never
// parsed as HTML: permission names, resource types and tiers come from audit records.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const MINUTE = 60_000;
  const HOUR = 60 * MINUTE;
  /** Each range and the width of one bar: a minute for short ranges, wider for long ones (at most ~100 bars). */
  const RANGES = {
    '15m': { ms: 15 * MINUTE, step: MINUTE },
    '1h': { ms: HOUR, step: MINUTE },
    '6h': { ms: 6 * HOUR, step: 5 * MINUTE },
    '24h': { ms: 24 * HOUR, step: 15 * MINUTE },
    '7d': { ms: 7 * 24 * HOUR, step: 2 * HOUR },
  };
  const DEFAULT_RANGE = '1h';
  const AUTO_REFRESH_MS = 10_000;
  const MAX_BUCKETS = 5000;
  /** Cache tiers in the order a check tries them; others follow alphabetically. */
  const TIER_ORDER = ['isolate', 'kv', 'origin'];

  const numberFormat = new Intl.NumberFormat();
  const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  const percentFormat = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
  const hourMinute = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  const dayHourMinute = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
  const dayOnly = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric' });
  const clock = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' });

  const fmt = (n) => numberFormat.format(n);

  /** Microseconds as people read them: 850 µs, 3.2 ms, 1.4 s. */
  function fmtUs(us) {
    if (us == null || !Number.isFinite(us)) return '--';
    if (us < 1000) return `${Math.round(us)} µs`;
    if (us < 1_000_000) return `${trim(us / 1000)} ms`;
    return `${trim(us / 1_000_000)} s`;
  }
  function trim(v) {
    return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/\.?0+$/, '');
  }

  function fmtPercent(part, whole) {
    if (whole <= 0) return '–';
    const p = part / whole;
    if (p > 0 && p < 0.001) return '<0.1%';
    return percentFormat.format(p);
  }

  function stepWords(step) {
    if (step === MINUTE) return 'minute';
    if (step < HOUR) return `${step / MINUTE} minutes`;
    if (step === HOUR) return 'hour';
    return `${step / HOUR} hours`;
  }

  /** A bucket's time for the legend: its start, or start–end when wider than a minute. */
  function bucketLabel(startMs, step, rangeMs) {
    const f = rangeMs > 24 * HOUR ? dayHourMinute : hourMinute;
    const start = f.format(new Date(startMs));
    return step === MINUTE ? start : `${start}–${hourMinute.format(new Date(startMs + step))}`;
  }

  // ---------------------------------------------------------------- reading the answer

  const count = (v) => {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : 0;
  };
  const text = (v) => (typeof v === 'string' ? v : v == null ? '' : String(v));
  const list = (v) => (Array.isArray(v) ? v : []);

  /** The answer with every field checked, and per_minute filled into buckets from `from` to `to`. */
  function readStats(body, asked, step) {
    body = body && typeof body === 'object' ? body : {};
    let from = Number(body.from_ms);
    let to = Number(body.to_ms);
    if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from || (to - from) / step > MAX_BUCKETS) {
      ({ from, to } = asked);
    }
    const start = Math.floor(from / step) * step;
    const n = Math.max(1, Math.ceil((to - start) / step));
    const x = new Array(n);
    const allowed = new Array(n).fill(0);
    const denied = new Array(n).fill(0);
    const signIns = new Array(n).fill(0);
    const failures = new Array(n).fill(0);
    for (let i = 0; i < n; i++) x[i] = start + i * step;
    for (const m of list(body.per_minute)) {
      const at = Number(m && m.minute_ms);
      if (!Number.isFinite(at)) continue;
      const i = Math.floor((at - start) / step);
      if (i < 0 || i >= n) continue;
      allowed[i] += count(m.allowed);
      denied[i] += count(m.denied);
      signIns[i] += count(m.sign_ins);
      failures[i] += count(m.auth_failures);
    }
    const rank = (t) => {
      const k = TIER_ORDER.indexOf(t);
      return k < 0 ? TIER_ORDER.length : k;
    };
    const latency = list(body.latency)
      .filter((l) => l && typeof l === 'object')
      .map((l) => ({
        tier: text(l.tier) || 'unknown',
        count: count(l.count),
        p50: count(l.p50_us),
        p90: count(l.p90_us),
        p99: count(l.p99_us),
        max: count(l.max_us),
      }))
      .filter((l) => l.count > 0)
      .sort((a, b) => rank(a.tier) - rank(b.tier) || (a.tier < b.tier ? -1 : a.tier > b.tier ? 1 : 0));
    const topDenied = list(body.top_denied)
      .filter((d) => d && typeof d === 'object')
      .map((d) => ({ permission: text(d.permission), type: text(d.resource_type), count: count(d.count) }))
      .filter((d) => d.count > 0)
      .sort((a, b) => b.count - a.count);
    return { from, to, step, x, allowed, denied, signIns, failures, latency, topDenied };
  }

  const sum = (a) => a.reduce((s, v) => s + v, 0);

  // ---------------------------------------------------------------- charts

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function axisLook() {
    const axis = cssVar('--c-axis');
    const grid = cssVar('--c-grid');
    return {
      stroke: axis,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 4 },
      font: '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    };
  }

  const INTEGER_INCRS = [];
  for (let m = 1; m <= 1e12; m *= 10) INTEGER_INCRS.push(m, 2 * m, 5 * m);

  function chartHeight(width) {
    return Math.round(Math.min(240, Math.max(170, width * 0.42)));
  }

  /** What each chart container holds now: a uPlot and the mutable data its callbacks read. */
  const charts = {
    decisions: { el: () => $('chart-decisions'), plot: null, ctx: null },
    signins: { el: () => $('chart-signins'), plot: null, ctx: null },
    latency: { el: () => $('chart-latency'), plot: null, ctx: null },
  };

  function destroy(chart) {
    if (chart.plot) chart.plot.destroy();
    chart.plot = null;
    chart.ctx = null;
  }

  function showEmpty(chart, message) {
    destroy(chart);
    const el = chart.el();
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = message;
    el.replaceChildren(p);
    el.dataset.points = '0';
    el.dataset.empty = 'true';
  }

  /** Two counts per bucket as stacked bars: the good one below, the bad one on top. */
  function stackedOptions(ctx, width, labels, colors) {
    const bars = uPlot.paths.bars({ size: [0.8, 48], gap: 0 });
    const look = axisLook();
    return {
      width,
      height: chartHeight(width),
      cursor: { points: { show: false }, drag: { x: false, y: false, setScale: false } },
      legend: { live: true },
      scales: {
        x: { time: true, range: () => [ctx.from / 1000, ctx.to / 1000] },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        {
          ...look,
          space: () => (ctx.to - ctx.from > 24 * HOUR ? 64 : 80),
          values: (u, splits, ai, space, incr) => splits.map((s) => {
            const d = new Date(s * 1000);
            return incr >= 86400 || (d.getHours() === 0 && d.getMinutes() === 0) ? dayOnly.format(d) : hourMinute.format(d);
          }),
        },
        { ...look, size: 48, space: 32, incrs: INTEGER_INCRS, values: (u, splits) => splits.map((v) => compactFormat.format(v)) },
      ],
      series: [
        { label: 'Time', value: (u, v, si, i) => (i == null ? '--' : bucketLabel(ctx.x[i], ctx.step, ctx.to - ctx.from)) },
        {
          label: labels[0], stroke: colors[0], fill: colors[0], width: 0, paths: bars, points: { show: false },
          value: (u, v, si, i) => (i == null ? '--' : fmt(ctx.good[i])),
        },
        {
          label: labels[1], stroke: colors[1], fill: colors[1], width: 0, paths: bars, points: { show: false },
          value: (u, v, si, i) => (i == null ? '--' : fmt(ctx.bad[i])),
        },
      ],
      // The bad series is drawn from the top of the good one: a stack.
      bands: [{ series: [2, 1] }],
    };
  }

  function stackedData(ctx) {
    const mid = ctx.step / 2;
    return [
      ctx.x.map((t) => (t + mid) / 1000), // each bar centred in its bucket
      ctx.good,
      ctx.good.map((g, i) => g + ctx.bad[i]),
    ];
  }

  function drawStacked(chart, stats, good, bad, labels, colorVars) {
    const el = chart.el();
    const ctx = { from: stats.from, to: stats.to, step: stats.step, x: stats.x, good, bad };
    const data = stackedData(ctx);
    if (chart.plot && chart.ctx) {
      Object.assign(chart.ctx, ctx);
      chart.plot.setData(data);
    } else {
      destroy(chart);
      el.replaceChildren();
      chart.ctx = ctx;
      const colors = colorVars.map(cssVar);
      chart.plot = new uPlot(stackedOptions(chart.ctx, Math.max(el.clientWidth, 200), labels, colors), data, el);
    }
    el.dataset.points = String(stats.x.length);
    el.dataset.empty = 'false';
  }

  /** p50, p90 and p99 side by side for each tier, on a log scale (an isolate answers in microseconds, the origin in milliseconds). */
  function latencyOptions(ctx, width, colors) {
    const look = axisLook();
    const barPaths = (k) => uPlot.paths.bars({
      disp: {
        x0: { unit: 1, values: () => ctx.xs.map((x) => x - 0.39 + k * 0.26) },
        size: { unit: 1, values: () => [0.24] },
      },
    });
    const pct = ['p50', 'p90', 'p99'];
    return {
      width,
      height: chartHeight(width),
      cursor: { points: { show: false }, drag: { x: false, y: false, setScale: false } },
      legend: { live: true },
      scales: {
        x: { time: false, range: () => [-0.5, ctx.xs.length - 0.5] },
        y: {
          distr: 3,
          log: 10,
          range: (u, min, max) => {
            const lo = 10 ** Math.floor(Math.log10(Math.max(1, ctx.min)));
            let hi = 10 ** Math.ceil(Math.log10(Math.max(1, ctx.max)));
            if (hi <= lo) hi = lo * 10;
            return [lo, hi];
          },
        },
      },
      axes: [
        {
          ...look,
          grid: { show: false },
          splits: () => ctx.xs,
          values: (u, splits) => {
            // As many characters as fit under a tier's group (about 7 px each).
            const fit = Math.max(4, Math.min(24, Math.floor(u.bbox.width / devicePixelRatio / Math.max(1, ctx.xs.length) / 7)));
            return splits.map((i) => {
              const t = ctx.tiers[i] || '';
              return t.length > fit ? `${t.slice(0, fit - 1)}…` : t;
            });
          },
        },
        {
          ...look,
          size: 56,
          splits: (u, ai, min, max) => {
            const out = [];
            for (let v = min; v <= max * 1.0001; v *= 10) out.push(v);
            return out;
          },
          // uPlot leaves out (null) labels that would crowd: keep their grid lines, show no text.
          values: (u, splits) => splits.map((v) => (v == null ? '' : fmtUs(v))),
        },
      ],
      series: [
        { label: 'Tier', value: (u, v, si, i) => (i == null ? '--' : ctx.tiers[i]) },
        ...pct.map((label, k) => ({
          label,
          stroke: colors[k],
          fill: colors[k],
          width: 0,
          paths: barPaths(k),
          points: { show: false },
          value: (u, v, si, i) => (i == null ? '--' : fmtUs(ctx.raw[k][i])),
        })),
      ],
    };
  }

  function drawLatency(chart, stats) {
    const el = chart.el();
    const rows = stats.latency;
    const raw = [rows.map((r) => r.p50), rows.map((r) => r.p90), rows.map((r) => r.p99)];
    const all = raw.flat();
    const ctx = {
      xs: rows.map((r, i) => i),
      tiers: rows.map((r) => r.tier),
      raw,
      min: Math.max(1, Math.min(...all)),
      max: Math.max(1, ...all),
    };
    // A log scale has no zero: a tier that answered in under a microsecond is drawn at 1 µs.
    const data = [ctx.xs, ...raw.map((a) => a.map((v) => Math.max(1, v)))];
    if (chart.plot && chart.ctx) {
      Object.assign(chart.ctx, ctx);
      chart.plot.setData(data);
    } else {
      destroy(chart);
      el.replaceChildren();
      chart.ctx = ctx;
      const colors = ['--c-p50', '--c-p90', '--c-p99'].map(cssVar);
      chart.plot = new uPlot(latencyOptions(chart.ctx, Math.max(el.clientWidth, 200), colors), data, el);
    }
    el.dataset.points = String(rows.length);
    el.dataset.empty = 'false';
  }

  // Charts follow their container's width (on the next frame, so the resize does not feed back into itself).
  let resizeQueued = false;
  const resizer = new ResizeObserver(() => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => {
      resizeQueued = false;
      for (const chart of Object.values(charts)) {
        if (!chart.plot) continue;
        const width = Math.max(chart.el().clientWidth, 200);
        if (width !== chart.plot.width) chart.plot.setSize({ width, height: chartHeight(width) });
      }
    });
  });
  for (const chart of Object.values(charts)) resizer.observe(chart.el());

  // ---------------------------------------------------------------- tables and summary

  function cell(tag, content, className) {
    const c = document.createElement(tag);
    if (className) c.className = className;
    if (content != null) c.textContent = content;
    return c;
  }

  function emptyRow(columns, message) {
    const tr = document.createElement('tr');
    const td = cell('td', message, 'empty');
    td.colSpan = columns;
    tr.append(td);
    return tr;
  }

  function renderDenied(rows) {
    const table = $('table-denied');
    const body = table.tBodies[0];
    if (rows.length === 0) {
      body.replaceChildren(emptyRow(2, 'No denied checks in this range'));
    } else {
      const top = rows[0].count;
      body.replaceChildren(...rows.map((r) => {
        const tr = document.createElement('tr');
        const name = cell('td', null, 'perm');
        name.append(cell('span', `${r.type}#${r.permission}`, 'perm-name'));
        const bar = cell('span', null, 'bar');
        bar.setAttribute('aria-hidden', 'true');
        const fill = document.createElement('span');
        fill.style.width = `${Math.max(0, Math.min(100, (r.count / top) * 100))}%`; // CSSOM, allowed by the CSP
        bar.append(fill);
        name.append(bar);
        tr.append(name, cell('td', fmt(r.count), 'count'));
        return tr;
      }));
    }
    table.dataset.points = String(rows.length);
    table.dataset.empty = String(rows.length === 0);
  }

  function renderLatencyTable(rows) {
    const table = $('table-latency');
    table.hidden = rows.length === 0;
    table.tBodies[0].replaceChildren(...rows.map((r) => {
      const tr = document.createElement('tr');
      const tier = cell('th', r.tier, 'tier');
      tier.scope = 'row';
      tr.append(tier, cell('td', fmt(r.count)), cell('td', fmtUs(r.p50)), cell('td', fmtUs(r.p90)), cell('td', fmtUs(r.p99)), cell('td', fmtUs(r.max), 'col-max'));
      return tr;
    }));
    table.dataset.points = String(rows.length);
  }

  /** The busiest bucket, for the line under a chart's heading. */
  function busiest(stats, good, bad) {
    let best = -1;
    let at = 0;
    for (let i = 0; i < good.length; i++) {
      const v = good[i] + bad[i];
      if (v > best) {
        best = v;
        at = i;
      }
    }
    return `Busiest: ${fmt(best)} at ${bucketLabel(stats.x[at], stats.step, stats.to - stats.from)}.`;
  }

  function render(stats) {
    const allowed = sum(stats.allowed);
    const denied = sum(stats.denied);
    const signIns = sum(stats.signIns);
    const failures = sum(stats.failures);
    const per = stepWords(stats.step);

    $('sum-decisions').textContent = fmt(allowed + denied);
    $('sum-denied-pct').textContent = fmtPercent(denied, allowed + denied);
    $('sum-denied-count').textContent = allowed + denied > 0 ? `${fmt(denied)} of ${fmt(allowed + denied)}` : '';
    $('sum-sign-ins').textContent = fmt(signIns);
    $('sum-auth-failures').textContent = fmt(failures);

    $('decisions-heading').textContent = `Decisions per ${per}`;
    $('signins-heading').textContent = `Sign-ins and authentication failures per ${per}`;

    if (allowed + denied === 0) {
      showEmpty(charts.decisions, 'No decisions in this range');
      $('decisions-note').textContent = 'Allowed and denied checks, stacked.';
    } else {
      drawStacked(charts.decisions, stats, stats.allowed, stats.denied, ['Allowed', 'Denied'], ['--c-allowed', '--c-denied']);
      $('decisions-note').textContent = `Allowed and denied checks, stacked. ${busiest(stats, stats.allowed, stats.denied)}`;
    }

    if (signIns + failures === 0) {
      showEmpty(charts.signins, 'No sign-ins or authentication failures in this range');
      $('signins-note').textContent = 'Successful sign-ins and failed authentications, stacked.';
    } else {
      drawStacked(charts.signins, stats, stats.signIns, stats.failures, ['Sign-ins', 'Failures'], ['--c-sign-ins', '--c-failures']);
      $('signins-note').textContent = `Successful sign-ins and failed authentications, stacked. ${busiest(stats, stats.signIns, stats.failures)}`;
    }

    if (stats.latency.length === 0) {
      showEmpty(charts.latency, 'No check latencies in this range');
    } else {
      drawLatency(charts.latency, stats);
    }
    renderLatencyTable(stats.latency);
    renderDenied(stats.topDenied);
  }

  // ---------------------------------------------------------------- loading

  function setError(...parts) {
    $('error').replaceChildren(...parts);
    // "Loading…" until the first answer; after that the line keeps saying what is on screen.
    if (parts.length && !lastStats) $('updated').textContent = 'Nothing loaded.';
  }

  function sessionExpired() {
    const link = document.createElement('a');
    link.href = '/audit/login';
    link.textContent = 'Sign in again';
    setError('Your session has expired. ', link, '.');
  }

  async function refusal(response) {
    let message = '';
    try {
      const body = await response.json();
      message = text(body && body.message);
    } catch {
      // not JSON: the status says enough
    }
    return `Could not load audit data (${response.status}${response.statusText ? ` ${response.statusText}` : ''})${message ? `: ${message}` : '.'}`;
  }

  let inFlight = null; // { controller, key }
  let expired = false;
  let lastLoad = 0;
  let lastStats = null;

  function chosenRange() {
    const key = $('range').value;
    return Object.hasOwn(RANGES, key) ? key : DEFAULT_RANGE;
  }

  function remember(tenant, rangeKey) {
    const params = new URLSearchParams(location.search);
    params.set('tenant', tenant);
    params.set('range', rangeKey);
    const next = `${location.pathname}?${params}`;
    if (next !== `${location.pathname}${location.search}`) history.replaceState(null, '', next);
  }

  /** Fetch and draw. `auto`: the timer asked (it waits for a request in flight and stops once the session expired). */
  async function load(auto) {
    if (auto && (expired || inFlight)) return;
    const tenant = $('tenant').value.trim();
    if (!tenant) {
      setError('Enter a tenant.');
      return;
    }
    const rangeKey = chosenRange();
    const key = `${tenant}\n${rangeKey}`;
    if (inFlight) {
      if (inFlight.key === key) return;
      inFlight.controller.abort();
    }
    const controller = new AbortController();
    const mine = { controller, key };
    inFlight = mine;
    lastLoad = Date.now();

    const range = RANGES[rangeKey];
    const to = Math.ceil(Date.now() / range.step) * range.step; // the end of the current bucket
    const from = to - range.ms;
    const query = new URLSearchParams({ tenant, from: String(from), to: String(to) });
    const button = $('refresh');
    button.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(`/audit/data/stats?${query}`, {
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { accept: 'application/json' },
        signal: controller.signal,
      });
      const redirectedToLogin = response.redirected && new URL(response.url).pathname.startsWith('/audit/login');
      if (response.status === 401 || redirectedToLogin) {
        expired = true;
        sessionExpired();
        return;
      }
      if (!response.ok) {
        setError(await refusal(response));
        return;
      }
      let body;
      try {
        body = await response.json();
      } catch (e) {
        if (e.name === 'AbortError') throw e;
        setError('Could not load audit data: the server sent something this page cannot read.');
        return;
      }
      if (inFlight !== mine) return;
      expired = false;
      const stats = readStats(body, { from, to }, range.step);
      lastStats = stats;
      render(stats);
      setError();
      remember(tenant, rangeKey);
      $('updated').textContent = `Tenant “${tenant}”. Updated at ${clock.format(new Date())}.`;
      document.body.dataset.rendered = String(Date.now());
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      setError('Could not reach the server. Check your connection; the page tries again every 10 seconds.');
    } finally {
      if (inFlight === mine) {
        inFlight = null;
        button.removeAttribute('aria-busy');
      }
    }
  }

  // ---------------------------------------------------------------- wiring

  function start() {
    const params = new URLSearchParams(location.search);
    const tenant = params.get('tenant');
    if (tenant) $('tenant').value = tenant;
    const range = params.get('range');
    if (range && Object.hasOwn(RANGES, range)) $('range').value = range;

    $('controls').addEventListener('submit', (e) => {
      e.preventDefault();
      expired = false;
      load(false);
    });
    $('range').addEventListener('change', () => load(false));
    $('tenant').addEventListener('change', () => load(false));
    $('auto').addEventListener('change', () => {
      if ($('auto').checked) load(true);
    });

    setInterval(() => {
      if ($('auto').checked && !document.hidden) load(true);
    }, AUTO_REFRESH_MS);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && $('auto').checked && Date.now() - lastLoad >= AUTO_REFRESH_MS) load(true);
    });

    // Colours come from CSS: redraw when the colour scheme changes.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      for (const chart of Object.values(charts)) destroy(chart);
      if (lastStats) render(lastStats);
    });

    load(false);
  }

  if (typeof uPlot !== 'function') {
    setError('The chart library did not load. Reload the page.');
    return;
  }
  start();
})();
