// clerksync operations page. Plain script, no dependencies: it signs in
// through /ops/session and shows what the admin API under /api/admin
// answers. Data only ever reaches the page through textContent and
// attributes, never as HTML.
'use strict';

(function () {
  const OPS_HEADER = 'X-Clerksync-Ops';
  const PAGE_SIZE = 50;
  const HEALTH_EVERY_MS = 30000;

  const $ = (id) => document.getElementById(id);

  // --- API ---------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // api sends one request with the ops header and the same-origin
  // cookie, and returns the decoded JSON (null for an empty answer). A
  // refusal throws ApiError with the {"error":{"code","message"}} fields.
  async function api(method, url, opts) {
    opts = opts || {};
    const headers = { [OPS_HEADER]: '1', Accept: 'application/json' };
    const init = { method, credentials: 'same-origin', headers, cache: 'no-store' };
    if (opts.token) headers.Authorization = 'Bearer ' + opts.token;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, 'network_error', 'The server could not be reached.');
    }
    let text = '';
    try {
      text = await resp.text();
    } catch (e) {
      text = '';
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = undefined;
      }
    }
    if (!resp.ok) {
      const e = data && typeof data === 'object' ? data.error : null;
      const code = e && typeof e.code === 'string' ? e.code : '';
      const message = e && typeof e.message === 'string' && e.message
        ? e.message
        : 'The server answered ' + resp.status + (resp.statusText ? ' ' + resp.statusText : '') + '.';
      throw new ApiError(resp.status, code, message);
    }
    if (data === undefined) {
      throw new ApiError(resp.status, 'bad_response', 'The server answered with something that is not JSON.');
    }
    return data;
  }

  function describe(err) {
    if (err instanceof ApiError) {
      const bits = [];
      if (err.code) bits.push(err.code);
      if (err.status) bits.push('HTTP ' + err.status);
      return err.message + (bits.length ? ' (' + bits.join(', ') + ')' : '');
    }
    return String((err && err.message) || err);
  }

  function isAuthError(err) {
    return err instanceof ApiError && (err.status === 401 || err.status === 403);
  }

  const enc = encodeURIComponent;

  // --- DOM helpers -------------------------------------------------------

  // el builds an element; strings among children become text nodes.
  function el(tag, props, ...children) {
    const n = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') n.className = v;
        else if (k === 'text') n.textContent = String(v);
        else if (k === 'dataset') Object.assign(n.dataset, v);
        else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
        else n.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      n.append(c instanceof Node ? c : String(c));
    }
    return n;
  }

  function show(node, on) {
    (typeof node === 'string' ? $(node) : node).hidden = !on;
  }

  function setText(id, text) {
    const n = $(id);
    n.textContent = text || '';
    n.hidden = !text;
  }

  function clear(node) {
    (typeof node === 'string' ? $(node) : node).replaceChildren();
  }

  // token keeps a value usable in a class name.
  function token(s) {
    return String(s || 'none').toLowerCase().replace(/[^a-z0-9_-]/g, '') || 'none';
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  // fmtTime shows an RFC 3339 time in the browser's zone.
  function fmtTime(s) {
    if (!s) return '—';
    const d = new Date(s);
    if (isNaN(d.getTime())) return String(s);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  // fmtAgo shows how long ago an RFC 3339 time was.
  function fmtAgo(s) {
    const d = new Date(s);
    if (!s || isNaN(d.getTime())) return '—';
    return fmtDuration((Date.now() - d.getTime()) / 1000) + ' ago';
  }

  function timeEl(s) {
    if (!s) return el('span', { class: 'muted', text: '—' });
    return el('time', { datetime: s, title: s, text: fmtTime(s) });
  }

  function fmtDuration(sec) {
    if (sec === null || sec === undefined || isNaN(sec)) return '—';
    sec = Math.max(0, Math.round(Number(sec)));
    if (sec < 60) return sec + ' s';
    const m = Math.floor(sec / 60);
    if (m < 60) return m + ' min';
    const h = Math.floor(m / 60);
    if (h < 48) return h + ' h ' + (m % 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  // fmtRate shows failure_rate, a fraction from 0 to 1, as a percentage.
  function fmtRate(r) {
    if (r === null || r === undefined || isNaN(r)) return '—';
    return (Number(r) * 100).toFixed(Number(r) === 0 ? 0 : 1) + ' %';
  }

  function num(v) {
    return v === null || v === undefined ? '—' : String(v);
  }

  function badge(value, kind) {
    const v = value || '—';
    return el('span', { class: 'badge badge-' + token(value) + (kind ? ' ' + kind : ''), text: v });
  }

  function td(label, ...children) {
    return el('td', { dataset: { label } }, ...children);
  }

  // errorCell shows a possibly long error on one line, whole on hover.
  function errorCell(label, text) {
    if (!text) return td(label, el('span', { class: 'muted', text: '—' }));
    return td(label, el('span', { class: 'clip', title: text, text }));
  }

  // --- Page state --------------------------------------------------------

  const state = {
    signedIn: false,
    // justSignedIn is set between a granted sign-in and its first load.
    justSignedIn: false,
    who: null,
    healthTimer: null,
    events: { items: [], cursor: null, seq: 0, filters: {} },
    detail: { id: null, reveal: false, seq: 0, event: null },
    jobs: { items: [] },
  };

  function notice(text, kind) {
    const n = $('notice');
    n.textContent = text || '';
    n.className = 'notice' + (kind ? ' notice-' + kind : '');
    n.hidden = !text;
  }

  // signedOut forgets every piece of data on the page and shows the
  // sign-in panel, with message as its error when given.
  function signedOut(message) {
    state.signedIn = false;
    state.who = null;
    if (state.healthTimer) {
      clearInterval(state.healthTimer);
      state.healthTimer = null;
    }
    state.events = { items: [], cursor: null, seq: state.events.seq + 1, filters: {} };
    state.detail.seq++;
    state.jobs.items = [];
    closeDetail();
    for (const id of ['health-cards', 'health-warnings', 'events-body', 'replay-body',
      'jobs-body', 'reconcile-report', 'detail-facts', 'history-body', 'payload']) {
      clear(id);
    }
    for (const id of ['health-error', 'events-error', 'replay-error', 'replay-summary',
      'jobs-error', 'jobs-result', 'reconcile-error', 'detail-error', 'detail-replay-result']) {
      setText(id, '');
    }
    for (const id of ['health-updated', 'events-count', 'jobs-count']) $(id).textContent = '';
    for (const id of ['health-warnings', 'events-empty', 'events-more', 'replay-table',
      'jobs-empty', 'reconcile-empty', 'reconcile-report']) {
      show(id, false);
    }
    show('dashboard', false);
    show('signout', false);
    show('refresh', false);
    show('whoami', false);
    show('signin', true);
    setText('signin-error', message || '');
    notice('');
    $('token').focus();
  }

  function enterDashboard() {
    state.signedIn = true;
    show('signin', false);
    setText('signin-error', '');
    show('dashboard', true);
    show('signout', true);
    show('refresh', true);
    if (state.who) {
      $('whoami').textContent = state.who.user_id +
        (state.who.expires_at ? ' · until ' + fmtTime(state.who.expires_at) : '');
      show('whoami', true);
    }
    if (!state.healthTimer) {
      state.healthTimer = setInterval(() => {
        if (state.signedIn && !document.hidden) loadHealth();
      }, HEALTH_EVERY_MS);
    }
  }

  // dataError shows err in the element errId, or signs out when the
  // server no longer accepts this page's sign-in.
  function dataError(err, errId) {
    if (isAuthError(err)) {
      let message = describe(err);
      if (err.status === 401) {
        if (state.signedIn) {
          message = 'Your operations sign-in has ended: ' + message;
        } else if (state.justSignedIn) {
          message = 'The sign-in was granted but its cookie did not come back ' +
            '(is the page served over plain HTTP while the server marks the cookie Secure?): ' + message;
        } else {
          // Not signed in yet: the panel says what to do.
          message = '';
        }
      }
      signedOut(message);
      return;
    }
    setText(errId, describe(err));
  }

  // --- Sign-in -----------------------------------------------------------

  async function signIn(ev) {
    ev.preventDefault();
    let tok = $('token').value.trim();
    tok = tok.replace(/^bearer\s+/i, '').replace(/^["'`]+|["'`]+$/g, '').trim();
    if (!tok) {
      setText('signin-error', 'Paste a Clerk session token first.');
      $('token').focus();
      return;
    }
    const button = $('signin-button');
    button.disabled = true;
    button.textContent = 'Signing in…';
    setText('signin-error', '');
    try {
      const s = await api('POST', '/ops/session', { token: tok });
      $('token').value = '';
      state.who = s && typeof s === 'object' ? s : null;
      state.justSignedIn = true;
      await loadAll();
    } catch (err) {
      setText('signin-error', describe(err));
    } finally {
      state.justSignedIn = false;
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  }

  async function signOut() {
    const button = $('signout');
    button.disabled = true;
    try {
      await api('DELETE', '/ops/session');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        notice('Sign-out failed: ' + describe(err), 'error');
        return;
      }
    } finally {
      button.disabled = false;
    }
    signedOut('');
    notice('Signed out.');
  }

  // --- Loading -----------------------------------------------------------

  // loadAll shows the dashboard once health answers, then loads the rest.
  async function loadAll() {
    const ok = await loadHealth();
    if (!ok) return;
    await Promise.all([loadEvents(true), loadJobs(), loadReconcile()]);
  }

  // loadHealth reports whether the page may show data.
  async function loadHealth() {
    try {
      const h = await api('GET', '/api/admin/health');
      if (!state.signedIn) enterDashboard();
      setText('health-error', '');
      renderHealth(h || {});
      return true;
    } catch (err) {
      if (isAuthError(err)) {
        dataError(err, 'health-error');
        return false;
      }
      if (!state.signedIn) enterDashboard();
      setText('health-error', 'Health: ' + describe(err));
      return true;
    }
  }

  // --- Health ------------------------------------------------------------

  function card(key, label, value, sub, warn) {
    return el('div', { class: 'card' + (warn ? ' warn' : ''), dataset: { card: key } },
      el('span', { class: 'card-label', text: label }),
      el('strong', { class: 'card-value', text: value }),
      sub ? el('span', { class: 'card-sub', text: sub }) : null);
  }

  function renderHealth(h) {
    const hour = h.webhooks_last_hour || {};
    const jobs = h.jobs || {};
    const lr = h.last_reconcile || null;
    const cards = [];

    cards.push(card('phase', 'Phase', h.phase || '—',
      h.webhooks_enabled ? 'webhooks on' : 'webhooks off',
      h.phase && h.phase !== 'mvp' && h.webhooks_enabled === false));

    let lastValue = 'never';
    if (h.last_webhook_at) {
      lastValue = h.seconds_since_last_webhook === null || h.seconds_since_last_webhook === undefined
        ? fmtTime(h.last_webhook_at)
        : fmtDuration(h.seconds_since_last_webhook) + ' ago';
    }
    cards.push(card('last-webhook', 'Last webhook', lastValue,
      h.last_webhook_at ? fmtTime(h.last_webhook_at) : (h.webhooks_enabled ? 'none received yet' : ''),
      false));

    const failed = Number(hour.failed) || 0;
    cards.push(card('webhooks-hour', 'Webhooks, last hour',
      num(hour.total), failed + ' failed · ' + fmtRate(hour.failure_rate) + ' failure rate', failed > 0));

    const oldest = Number(jobs.oldest_pending_seconds) || 0;
    cards.push(card('jobs-pending', 'Pending jobs', num(jobs.pending),
      oldest > 0 ? 'oldest waiting ' + fmtDuration(oldest) : 'none waiting', oldest > 300));
    cards.push(card('jobs-retryable', 'Retryable jobs', num(jobs.retryable),
      'failed, will run again', Number(jobs.retryable) > 0));
    cards.push(card('jobs-discarded', 'Discarded jobs, 24 h', num(jobs.discarded_24h),
      'gave up after their last attempt', Number(jobs.discarded_24h) > 0));
    cards.push(card('fallback', 'Fallback fetches', num(h.fallback_fetches),
      'users fetched from Clerk on request', false));

    if (lr) {
      const drift = (Number(lr.missing) || 0) + (Number(lr.stale) || 0) + (Number(lr.gone) || 0);
      cards.push(card('reconcile', 'Last reconcile', fmtAgo(lr.finished_at),
        'missing ' + num(lr.missing) + ' · stale ' + num(lr.stale) + ' · gone ' + num(lr.gone) +
        ' · fixed ' + num(lr.fixed), drift > (Number(lr.fixed) || 0)));
    } else {
      cards.push(card('reconcile', 'Last reconcile', 'never', 'no run recorded', false));
    }
    $('health-cards').replaceChildren(...cards);

    const warnings = Array.isArray(h.warnings) ? h.warnings : [];
    $('health-warnings').replaceChildren(...warnings.map((w) => el('li', { text: w })));
    show('health-warnings', warnings.length > 0);
    $('health-updated').textContent = 'updated ' + fmtTime(new Date().toISOString());
  }

  // --- Event log ---------------------------------------------------------

  function readFilters() {
    return {
      status: $('filter-status').value,
      type: $('filter-type').value.trim(),
      user_id: $('filter-user').value.trim(),
      from: $('filter-from').value,
      to: $('filter-to').value,
    };
  }

  function eventsURL(f, cursor) {
    const p = new URLSearchParams();
    for (const k of ['status', 'type', 'user_id', 'from', 'to']) {
      if (f[k]) p.set(k, f[k]);
    }
    p.set('limit', String(PAGE_SIZE));
    if (cursor) p.set('cursor', cursor);
    return '/api/admin/webhooks?' + p.toString();
  }

  async function loadEvents(reset) {
    const evs = state.events;
    const seq = ++evs.seq;
    setText('events-error', '');
    if (reset) {
      const f = readFilters();
      if (f.from && f.to && f.from > f.to) {
        setText('events-error', 'The From date is after the To date.');
        return;
      }
      evs.filters = f;
      evs.items = [];
      evs.cursor = null;
      $('events-body').replaceChildren(loadingRow(8));
      show('events-table', true);
      show('events-empty', false);
      show('events-more', false);
    }
    const more = $('events-more');
    more.disabled = true;
    try {
      const data = await api('GET', eventsURL(evs.filters, reset ? null : evs.cursor));
      if (seq !== evs.seq) return;
      const page = data && Array.isArray(data.events) ? data.events : [];
      if (reset) clear('events-body');
      for (const e of page) {
        evs.items.push(e);
        $('events-body').append(eventRow(e));
      }
      evs.cursor = (data && data.next_cursor) || null;
      show('events-more', !!evs.cursor);
      show('events-table', evs.items.length > 0);
      show('events-empty', evs.items.length === 0);
      $('events-count').textContent = evs.items.length + (evs.cursor ? '+' : '') +
        (evs.items.length === 1 ? ' event' : ' events');
    } catch (err) {
      if (seq !== evs.seq) return;
      if (reset) {
        clear('events-body');
        show('events-table', false);
      }
      dataError(err, 'events-error');
    } finally {
      more.disabled = false;
    }
  }

  function loadingRow(cols) {
    return el('tr', { class: 'loading' }, el('td', { colspan: cols, text: 'Loading…' }));
  }

  function eventRow(e) {
    const tr = el('tr', {
      class: 'clickable status-' + token(e.status),
      tabindex: 0,
      dataset: { svixId: e.svix_id || '', status: e.status || '' },
      title: 'Show event ' + (e.svix_id || ''),
    });
    const actions = td('');
    if (e.status === 'failed') {
      actions.append(el('button', {
        type: 'button',
        class: 'small replay',
        text: 'Replay',
        onclick: (ev) => {
          ev.stopPropagation();
          // replayOne shows its own errors.
          replayOne(e.svix_id, ev.currentTarget).catch(() => {});
        },
      }));
    }
    tr.append(
      td('Received', timeEl(e.received_at)),
      td('Type', el('code', { text: e.event_type || '—' })),
      td('User', e.clerk_user_id ? el('code', { text: e.clerk_user_id }) : el('span', { class: 'muted', text: '—' })),
      td('Status', badge(e.status)),
      td('Outcome', e.outcome || '—'),
      td('Attempts', num(e.attempts)),
      errorCell('Error', e.error),
      actions);
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('button, a, details')) return;
      openDetail(e.svix_id, false);
    });
    tr.addEventListener('keydown', (ev) => {
      if (ev.target !== tr) return;
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        openDetail(e.svix_id, false);
      }
    });
    return tr;
  }

  // updateEvent folds a replay result into the listed event and redraws
  // its row.
  function updateEvent(r) {
    if (!r || !r.svix_id) return;
    const items = state.events.items;
    for (let i = 0; i < items.length; i++) {
      if (items[i].svix_id !== r.svix_id) continue;
      items[i] = Object.assign({}, items[i], {
        status: r.status,
        outcome: r.outcome,
        error: r.error,
      });
      for (const row of $('events-body').children) {
        if (row.dataset.svixId === r.svix_id) {
          row.replaceWith(eventRow(items[i]));
          break;
        }
      }
    }
  }

  // --- Replay ------------------------------------------------------------

  function resultText(r) {
    let s = (r.svix_id || '?') + ': ' + (r.status || '—');
    if (r.outcome) s += ' (' + r.outcome + ')';
    if (r.error) s += ' — ' + r.error;
    return s;
  }

  function addReplayRows(results) {
    const body = $('replay-body');
    const rows = results.map((r) => el('tr', {
      class: 'status-' + token(r.status),
      dataset: { svixId: r.svix_id || '' },
    },
    td('Event', el('code', { text: r.svix_id || '—' })),
    td('Status', badge(r.status)),
    td('Outcome', r.outcome || '—'),
    errorCell('Error', r.error)));
    body.prepend(...rows);
    show('replay-table', body.children.length > 0);
  }

  // replayOne replays one event and returns its result, or null.
  async function replayOne(svixId, button) {
    const label = button ? button.textContent : '';
    if (button) {
      button.disabled = true;
      button.textContent = 'Replaying…';
    }
    setText('replay-error', '');
    try {
      const r = await api('POST', '/api/admin/webhooks/' + enc(svixId) + '/replay');
      addReplayRows([r]);
      setText('replay-summary', 'Replayed ' + resultText(r));
      updateEvent(r);
      loadHealth();
      return r;
    } catch (err) {
      if (isAuthError(err)) {
        dataError(err, 'replay-error');
        return null;
      }
      addReplayRows([{ svix_id: svixId, status: 'error', outcome: '', error: describe(err) }]);
      setText('replay-error', 'Replay of ' + svixId + ' failed: ' + describe(err));
      throw err;
    } finally {
      if (button && button.isConnected) {
        button.disabled = false;
        button.textContent = label;
      }
    }
  }

  async function replayRange() {
    const f = readFilters();
    if (f.from && f.to && f.from > f.to) {
      setText('replay-error', 'The From date is after the To date.');
      return;
    }
    let range;
    if (f.from || f.to) {
      range = 'from ' + (f.from || 'the first one') + ' to ' + (f.to || 'today');
    } else {
      range = 'of all time (no From or To date is set in the event log filters)';
    }
    if (!window.confirm('Replay every failed event ' + range + '?')) return;
    const body = { status: 'failed' };
    if (f.from) body.from = f.from;
    if (f.to) body.to = f.to;
    const button = $('replay-range');
    button.disabled = true;
    button.textContent = 'Replaying…';
    setText('replay-error', '');
    setText('replay-summary', '');
    try {
      const data = await api('POST', '/api/admin/webhooks/replay', { body });
      const results = data && Array.isArray(data.replayed) ? data.replayed : [];
      const count = data && typeof data.count === 'number' ? data.count : results.length;
      addReplayRows(results);
      const still = results.filter((r) => r.status === 'failed').length;
      setText('replay-summary', 'Replayed ' + count + (count === 1 ? ' failed event ' : ' failed events ') +
        range + '.' + (still ? ' ' + still + ' still failed.' : ''));
      for (const r of results) updateEvent(r);
      loadHealth();
    } catch (err) {
      dataError(err, 'replay-error');
    } finally {
      button.disabled = false;
      button.textContent = 'Replay all failed in range';
    }
  }

  // --- Event detail ------------------------------------------------------

  function detailURL(id, reveal) {
    return '/api/admin/webhooks/' + enc(id) + (reveal ? '?reveal=true' : '');
  }

  async function openDetail(id, reveal) {
    if (!id) return;
    const det = state.detail;
    const dialog = $('detail');
    const sameEvent = det.id === id && dialog.open;
    det.id = id;
    det.reveal = !!reveal;
    const seq = ++det.seq;
    $('detail-title').textContent = 'Event ' + id;
    setText('detail-error', '');
    if (!sameEvent) {
      setText('detail-replay-result', '');
      show('detail-body', false);
    }
    show('detail-loading', true);
    if (!dialog.open) {
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
    }
    try {
      const d = await api('GET', detailURL(id, reveal));
      if (seq !== det.seq) return;
      renderDetail(d || {});
    } catch (err) {
      if (seq !== det.seq) return;
      if (isAuthError(err)) {
        dataError(err, 'detail-error');
        return;
      }
      setText('detail-error', describe(err));
    } finally {
      if (seq === det.seq) show('detail-loading', false);
    }
  }

  function fact(dl, label, value) {
    dl.append(el('dt', { text: label }),
      el('dd', {}, value instanceof Node ? value : (value === null || value === undefined || value === '' ? '—' : String(value))));
  }

  // stat adds one labelled number to a dl of stats.
  function stat(dl, label, value, sub, warn) {
    dl.append(el('div', { class: 'stat' + (warn ? ' warn' : '') },
      el('dt', { text: label }),
      el('dd', {}, value instanceof Node ? value : String(value)),
      sub ? el('dd', { class: 'stat-sub', text: sub }) : null));
  }

  function renderDetail(d) {
    const e = d.event || {};
    state.detail.event = e;
    const dl = $('detail-facts');
    clear(dl);
    fact(dl, 'Svix id', el('code', { text: e.svix_id || state.detail.id }));
    fact(dl, 'Type', el('code', { text: e.event_type || '—' }));
    fact(dl, 'User', e.clerk_user_id ? el('code', { text: e.clerk_user_id }) : '—');
    fact(dl, 'Status', badge(e.status));
    fact(dl, 'Outcome', e.outcome);
    fact(dl, 'Error', e.error ? el('span', { class: 'error-text', text: e.error }) : '—');
    fact(dl, 'Attempts', num(e.attempts));
    fact(dl, 'Received', timeEl(e.received_at));
    fact(dl, 'Processed', timeEl(e.processed_at));
    show('detail-replay', e.status === 'failed');

    const history = Array.isArray(d.history) ? d.history : [];
    $('history-body').replaceChildren(...history.map((x) => el('tr', {},
      td('At', timeEl(x.at)),
      td('Action', (x.action || '—') + (x.by ? ' by ' + x.by : '')),
      td('Status', badge(x.status)),
      td('Outcome', x.outcome || '—'),
      errorCell('Error', x.error))));
    show('history-table', history.length > 0);
    show('history-empty', history.length === 0);

    const pre = $('payload');
    const stateBadge = $('payload-state');
    const hasPayload = e.payload !== null && e.payload !== undefined;
    if (hasPayload) {
      pre.textContent = JSON.stringify(e.payload, null, 2);
    } else {
      pre.textContent = '';
    }
    show('payload', hasPayload);
    setText('payload-none', hasPayload ? '' : (e.has_payload === false
      ? 'No payload is kept for this event.'
      : 'The payload is not available.'));
    if (!hasPayload) {
      stateBadge.textContent = '';
      stateBadge.className = 'badge';
      show('payload-reveal', false);
    } else if (e.payload_redacted) {
      stateBadge.textContent = 'personal data hidden';
      stateBadge.className = 'badge badge-redacted';
      show('payload-reveal', true);
    } else {
      stateBadge.textContent = state.detail.reveal ? 'personal data shown' : 'not redacted';
      stateBadge.className = 'badge ' + (state.detail.reveal ? 'badge-revealed' : 'badge-none');
      show('payload-reveal', false);
    }
    show('detail-body', true);
  }

  function closeDetail() {
    const dialog = $('detail');
    if (dialog.open) {
      if (typeof dialog.close === 'function') dialog.close();
      else dialog.removeAttribute('open');
    }
    forgetDetail();
  }

  // forgetDetail drops the shown event, so that a revealed payload does
  // not stay in the page once closed.
  function forgetDetail() {
    state.detail.seq++;
    state.detail.id = null;
    state.detail.reveal = false;
    state.detail.event = null;
    $('payload').textContent = '';
    clear('detail-facts');
    clear('history-body');
    show('detail-body', false);
    setText('detail-replay-result', '');
  }

  function revealPayload() {
    const id = state.detail.id;
    if (!id) return;
    const ok = window.confirm('Show this event\'s payload with its personal data ' +
      '(email addresses, names, IP addresses)? Only do this when you need it.');
    if (ok) openDetail(id, true);
  }

  async function replayFromDetail() {
    const id = state.detail.id;
    if (!id) return;
    const button = $('detail-replay');
    setText('detail-replay-result', '');
    try {
      const r = await replayOne(id, button);
      if (!r) return;
      const p = $('detail-replay-result');
      p.textContent = 'Replay result: ' + resultText(r);
      p.className = 'summary result-' + token(r.status);
      p.hidden = false;
      if (state.detail.id === id) {
        // Show the replay in the history; keep the result above.
        const keep = p.textContent;
        await openDetail(id, state.detail.reveal);
        setText('detail-replay-result', keep);
      }
    } catch (err) {
      setText('detail-replay-result', 'Replay failed: ' + describe(err));
      $('detail-replay-result').className = 'summary result-error';
    }
  }

  // --- Jobs --------------------------------------------------------------

  async function loadJobs() {
    setText('jobs-error', '');
    try {
      const data = await api('GET', '/api/admin/jobs?state=failed');
      const jobs = data && Array.isArray(data.jobs) ? data.jobs : [];
      state.jobs.items = jobs;
      $('jobs-body').replaceChildren(...jobs.map(jobRow));
      show('jobs-table', jobs.length > 0);
      show('jobs-empty', jobs.length === 0);
      $('jobs-count').textContent = jobs.length + (jobs.length === 1 ? ' job' : ' jobs');
    } catch (err) {
      dataError(err, 'jobs-error');
    }
  }

  function lastError(j) {
    const errs = Array.isArray(j.errors) ? j.errors : [];
    return errs.length ? errs[errs.length - 1] : null;
  }

  function jobRow(j) {
    const errs = Array.isArray(j.errors) ? j.errors : [];
    const last = lastError(j);
    const errorTd = errorCell('Last error', last ? last.error : '');
    if (errs.length > 1) {
      const list = el('ol', { class: 'job-errors' }, ...errs.map((x) =>
        el('li', {}, timeEl(x.at), ' ', el('span', { text: x.error || '—' }))));
      errorTd.append(el('details', {}, el('summary', { text: 'all ' + errs.length + ' errors' }), list));
    }
    const actions = td('');
    const retryable = j.state === 'discarded' || j.state === 'retryable';
    if (retryable) {
      actions.append(el('button', {
        type: 'button',
        class: 'small retry',
        text: 'Retry',
        onclick: (ev) => retryJob(j.id, ev.currentTarget),
      }));
    }
    return el('tr', { class: 'job-' + token(j.state), dataset: { jobId: String(j.id) } },
      td('Job', el('code', { text: '#' + num(j.id) })),
      td('Kind', el('code', { text: j.kind || '—' })),
      td('State', badge(j.state)),
      td('Attempts', num(j.attempt) + ' / ' + num(j.max_attempts)),
      td('User', j.clerk_user_id ? el('code', { text: j.clerk_user_id }) : el('span', { class: 'muted', text: '—' })),
      errorTd,
      td('Scheduled', timeEl(j.scheduled_at)),
      td('Finalized', timeEl(j.finalized_at)),
      actions);
  }

  async function retryJob(id, button) {
    button.disabled = true;
    button.textContent = 'Retrying…';
    setText('jobs-error', '');
    setText('jobs-result', '');
    try {
      const data = await api('POST', '/api/admin/jobs/' + enc(String(id)) + '/retry');
      const job = data && data.job ? data.job : null;
      const row = button.closest('tr');
      if (job && row) row.replaceWith(jobRow(job));
      const p = $('jobs-result');
      p.textContent = 'Job #' + id + ' queued again' + (job && job.state ? ' (state ' + job.state + ').' : '.');
      p.className = 'summary result-applied';
      p.hidden = false;
      loadHealth();
    } catch (err) {
      dataError(err, 'jobs-error');
      if (button.isConnected) {
        button.disabled = false;
        button.textContent = 'Retry';
      }
    }
  }

  // --- Reconcile ---------------------------------------------------------

  async function loadReconcile() {
    setText('reconcile-error', '');
    try {
      const data = await api('GET', '/api/admin/reconcile/latest');
      const run = data ? data.run : null;
      const dl = $('reconcile-report');
      clear(dl);
      if (!run) {
        show('reconcile-empty', true);
        show(dl, false);
        return;
      }
      show('reconcile-empty', false);
      const took = run.started_at && run.finished_at
        ? (new Date(run.finished_at) - new Date(run.started_at)) / 1000 : null;
      stat(dl, 'Finished', timeEl(run.finished_at), fmtAgo(run.finished_at));
      stat(dl, 'Started', timeEl(run.started_at),
        took === null || isNaN(took) ? '' : 'took ' + fmtDuration(took));
      stat(dl, 'Users in Clerk', num(run.clerk_users));
      stat(dl, 'Users here', num(run.local_users));
      for (const [k, label, sub] of [
        ['missing', 'Missing here', 'in Clerk, not in the database'],
        ['stale', 'Stale here', 'older than Clerk\'s version'],
        ['gone', 'Gone from Clerk', 'in the database, deleted in Clerk'],
      ]) {
        stat(dl, label, num(run[k]), sub, (Number(run[k]) || 0) > 0);
      }
      stat(dl, 'Fixed', num(run.fixed), 'by this run');
      show(dl, true);
    } catch (err) {
      dataError(err, 'reconcile-error');
    }
  }

  // --- Wiring ------------------------------------------------------------

  function resetFilters() {
    $('filters').reset();
    loadEvents(true);
  }

  function boot() {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', signOut);
    $('refresh').addEventListener('click', () => {
      notice('');
      loadAll();
    });
    $('filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      loadEvents(true);
    });
    $('filter-reset').addEventListener('click', resetFilters);
    $('events-more').addEventListener('click', () => loadEvents(false));
    $('replay-range').addEventListener('click', replayRange);
    $('detail-close').addEventListener('click', closeDetail);
    $('detail').addEventListener('close', forgetDetail);
    $('detail-replay').addEventListener('click', replayFromDetail);
    $('payload-reveal').addEventListener('click', revealPayload);

    notice('Checking sign-in…');
    loadAll().finally(() => {
      if ($('notice').textContent === 'Checking sign-in…') notice('');
    });
  }

  boot();
}());
