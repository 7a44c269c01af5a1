// linksocks-ts admin page. A client of the server's API: every request carries X-API-Key, nothing
// is stored but the key in sessionStorage. Everything shown comes from the server and may hold
// peer- or user-supplied text, so it is only ever set through textContent / attributes, never HTML.
'use strict';

(function () {
  const KEY_STORAGE = 'linksocks-admin-key';
  const REFRESH_MS = 2000;
  const WINDOW_MS = 10 * 60 * 1000;
  const MAX_SAMPLES = 400;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  let apiKey = '';
  let timer = 0;
  let samples = [];
  let lastSampleTime = 0;
  let refreshing = false;
  /** Two-step buttons armed now, by key, with the timer that disarms them. */
  const armed = new Map();
  /** The tokens of the last refresh (the edit form reads the current policy from it). */
  let tokenList = [];
  /** The token whose policy the edit form is open for; '' when closed. */
  let editing = '';

  // ---- API ----------------------------------------------------------------------------------

  class Unauthorized extends Error {}

  async function api(method, path, body) {
    const headers = { 'X-API-Key': apiKey };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
    if (res.status === 401) throw new Unauthorized('invalid API key');
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    if (!res.ok && !(json && typeof json.error === 'string')) throw new Error(`HTTP ${res.status}`);
    return json;
  }

  // ---- formatting -----------------------------------------------------------------------------

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = Number(n) || 0;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${unit === 0 ? Math.round(value) : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
  }

  function rate(n) {
    return `${bytes(n)}/s`;
  }

  function number(n) {
    const value = Number(n) || 0;
    return value >= 100 || Number.isInteger(value) ? Math.round(value).toLocaleString('en') : value.toFixed(1);
  }

  function since(iso) {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return `${seconds} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min ago`;
    return `${Math.floor(seconds / 86400)} d ago`;
  }

  function clock(iso) {
    const d = new Date(iso);
    return d.toLocaleTimeString('en-GB', { hour12: false });
  }

  // ---- DOM helpers --------------------------------------------------------------------------

  /** An element with text content and optional class; children appended as given. */
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function message(text, isError) {
    const node = $('token-message');
    node.textContent = text;
    node.className = isError ? 'message error' : 'message ok';
    show(node, text !== '');
  }

  // ---- session --------------------------------------------------------------------------------

  function readFragmentKey() {
    const hash = window.location.hash.replace(/^#/, '');
    if (hash === '') return '';
    // Not URLSearchParams: it would turn a '+' of the key into a space.
    const match = /(?:^|&)key=([^&]*)/.exec(hash);
    let value = '';
    try {
      value = match ? decodeURIComponent(match[1]) : '';
    } catch {
      value = '';
    }
    // Out of the address bar (and of screen shares) once read; the bookmark keeps it.
    history.replaceState(null, '', window.location.pathname + window.location.search);
    return value;
  }

  function showLogin(errorText) {
    stop();
    apiKey = '';
    editing = '';
    show($('edit-form'), false);
    sessionStorage.removeItem(KEY_STORAGE);
    show($('dashboard'), false);
    show($('session'), false);
    show($('login'), true);
    const error = $('login-error');
    error.textContent = errorText || '';
    show(error, Boolean(errorText));
    const input = $('api-key');
    input.value = '';
    input.focus();
  }

  async function signIn(key) {
    apiKey = key;
    let status;
    try {
      status = await api('GET', 'api/status');
    } catch (err) {
      showLogin(err instanceof Unauthorized ? 'Wrong API key: the server refused it.' : `Cannot reach the server: ${err.message}`);
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    $('server-version').textContent = `server ${status.version}`;
    show($('login'), false);
    show($('session'), true);
    show($('dashboard'), true);
    samples = [];
    lastSampleTime = 0;
    await refresh();
    schedule();
  }

  function schedule() {
    stop();
    timer = window.setInterval(() => {
      if (!document.hidden) void refresh();
    }, REFRESH_MS);
  }

  function stop() {
    if (timer) window.clearInterval(timer);
    timer = 0;
  }

  // ---- refresh --------------------------------------------------------------------------------

  async function refresh() {
    if (refreshing || apiKey === '') return;
    refreshing = true;
    try {
      const [tokens, clients, stats, events] = await Promise.all([
        api('GET', 'api/tokens'),
        api('GET', 'api/clients'),
        api('GET', lastSampleTime ? `api/stats?since=${lastSampleTime}` : 'api/stats'),
        api('GET', 'api/events?limit=50'),
      ]);
      renderTokens(tokens.tokens || []);
      renderClients(clients.clients || []);
      renderStats(stats);
      renderEvents(events.events || []);
      $('updated').textContent = `Updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}, every ${REFRESH_MS / 1000} s.`;
    } catch (err) {
      if (err instanceof Unauthorized) showLogin('The server no longer accepts this API key.');
      else {
        $('updated').textContent = `Update failed: ${err.message}`;
        $('server-state').textContent = 'unreachable';
        $('server-state').className = 'pill warn';
      }
    } finally {
      refreshing = false;
    }
  }

  /** Keeps keyboard focus on the same control (by data-focus) when a table's rows are rebuilt. */
  function replaceRows(body, rows) {
    // Column names for the narrow layout, where each row is a card of labelled lines.
    const names = Array.from(body.parentElement.tHead.rows[0].cells, (th) => th.textContent);
    for (const tr of rows) Array.from(tr.cells).forEach((td, i) => (td.dataset.label = names[i] || ''));
    const active = document.activeElement;
    const key = active && body.contains(active) ? active.dataset.focus : undefined;
    body.replaceChildren(...rows);
    if (key) {
      const again = Array.from(body.querySelectorAll('[data-focus]')).find((node) => node.dataset.focus === key);
      if (again) again.focus();
    }
  }

  function tokenPath(token) {
    return `api/token/${encodeURIComponent(token)}`;
  }

  /**
   * PATCH and kick name the token in the path, which the server cleans as Go's router does: a name
   * with an empty, '.' or '..' part between slashes cannot be reached that way.
   */
  function pathSafe(token) {
    return token.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
  }

  const UNREACHABLE = 'Not possible from here: the API takes this token in the URL path, where its name does not survive.';

  function unreachable(button, token) {
    if (pathSafe(token)) return button;
    button.disabled = true;
    button.title = UNREACHABLE;
    return button;
  }

  function renderTokens(tokens) {
    const body = $('tokens-table').tBodies[0];
    const rows = [];
    tokenList = tokens;
    for (const t of tokens) {
      const tr = document.createElement('tr');
      tr.dataset.token = t.token;
      const disabled = Boolean(t.policy && t.policy.disabled);
      if (disabled) tr.className = 'off';
      const name = el('td', t.token, 'token');
      name.title = t.token;
      tr.append(name);
      tr.append(el('td', t.kind === 'connector' ? `connector → ${t.reverse_token}` : t.kind));
      tr.append(el('td', t.kind === 'reverse' ? t.port : '–', 'num-left'));
      tr.append(el('td', t.socks_username ? `${t.socks_username} : ${t.socks_password_set ? '••••••' : '(none)'}` : '–'));
      tr.append(el('td', t.clients_count, 'num'));
      tr.append(policyCell(t));
      tr.append(usageCell(t));
      const cell = el('td', null, 'actions');
      const edit = el('button', 'Edit', 'plain small');
      edit.type = 'button';
      edit.dataset.focus = `edit\u0000${t.token}`;
      edit.setAttribute('aria-label', `Edit the policy of token ${t.token}`);
      edit.addEventListener('click', () => openEdit(t.token));
      const toggle = el('button', disabled ? 'Enable' : 'Disable', 'plain small toggle');
      toggle.type = 'button';
      toggle.dataset.focus = `toggle\u0000${t.token}`;
      toggle.setAttribute('aria-label', `${disabled ? 'Enable' : 'Disable'} token ${t.token}`);
      toggle.addEventListener('click', () => void setDisabled(t.token, !disabled, toggle));
      cell.append(unreachable(edit, t.token), unreachable(toggle, t.token), confirmButton({
        key: `remove\u0000${t.token}`,
        label: 'Remove',
        aria: `Remove token ${t.token}`,
        confirmAria: `Confirm: remove token ${t.token} and disconnect its clients`,
        // The body form: a token such as '..' or 'a/b' would not survive as a path segment.
        action: () => api('DELETE', 'api/token', { token: t.token }),
        done: (res) => (res.success ? message(`Token ${t.token} removed.`, false) : message(`Not removed: ${res.error}`, true)),
        failed: (err) => message(`Not removed: ${err.message}`, true),
      }));
      tr.append(cell);
      rows.push(tr);
    }
    replaceRows(body, rows);
    show($('tokens-empty'), tokens.length === 0);
  }

  /** Limits, quota, expiry, strategy and the disabled state, one short line each. */
  function policyCell(t) {
    const cell = el('td', null, 'policy');
    const p = t.policy || {};
    const lines = [];
    if (p.disabled) lines.push(el('span', 'disabled', 'tag off'));
    if (p.max_channels !== undefined) lines.push(el('span', `≤ ${number(p.max_channels)} channels`));
    if (p.rate_limit !== undefined) lines.push(el('span', `${rate(p.rate_limit)} each way`));
    if (p.quota_bytes !== undefined) lines.push(el('span', `quota ${bytes(p.quota_bytes)}${p.quota_period ? ` / ${p.quota_period}` : ''}`));
    if (p.expires_at !== undefined) {
      const expiry = el('span', `expires ${p.expires_at.slice(0, 16).replace('T', ' ')} UTC`);
      expiry.title = p.expires_at;
      lines.push(expiry);
    }
    if (t.strategy) lines.push(el('span', t.strategy));
    if (lines.length === 0) lines.push(el('span', '–'));
    cell.append(...lines);
    return cell;
  }

  /** Open channels, and the meter's bytes and quota use when the server reports them. */
  function usageCell(t) {
    const cell = el('td', null, 'usage');
    const u = t.usage || {};
    if (u.channels !== undefined) cell.append(el('span', `${number(u.channels)} ch open`, 'channels'));
    if (u.bytes_up !== undefined || u.bytes_down !== undefined) cell.append(el('span', `↑ ${bytes(u.bytes_up)} ↓ ${bytes(u.bytes_down)}`));
    if (u.quota_used !== undefined) {
      const quota = t.policy && t.policy.quota_bytes;
      const used = el('span', `quota used ${bytes(u.quota_used)}${quota ? ` of ${bytes(quota)}` : ''}`);
      if (u.quota_resets_at) used.title = `resets ${u.quota_resets_at}`;
      cell.append(used);
    }
    if (cell.childNodes.length === 0) cell.append(el('span', '–'));
    return cell;
  }

  /**
   * Two steps instead of a confirm() dialog: the first press arms the button for a few seconds.
   * The armed state is kept by key, so a refresh that rebuilds the row keeps it.
   */
  function confirmButton(o) {
    const button = el('button', o.label, 'danger small');
    button.type = 'button';
    button.dataset.focus = o.key;
    const arm = (on) => {
      button.textContent = on ? 'Confirm' : o.label;
      button.setAttribute('aria-label', on ? o.confirmAria : o.aria);
      button.classList.toggle('armed', on);
    };
    arm(armed.has(o.key));
    button.addEventListener('click', async () => {
      if (!armed.has(o.key)) {
        arm(true);
        armed.set(o.key, window.setTimeout(() => {
          armed.delete(o.key);
          arm(false);
        }, 4000));
        return;
      }
      window.clearTimeout(armed.get(o.key));
      armed.delete(o.key);
      button.disabled = true;
      try {
        o.done(await o.action());
      } catch (err) {
        if (err instanceof Unauthorized) return showLogin('The server no longer accepts this API key.');
        o.failed(err);
      }
      await refresh();
    });
    return button;
  }

  async function setDisabled(token, disabled, button) {
    button.disabled = true;
    try {
      const res = await api('PATCH', tokenPath(token), { disabled });
      if (res.success) message(`Token ${token} ${disabled ? 'disabled: its clients are disconnected and refused until it is enabled' : 'enabled'}.`, false);
      else message(`Not ${disabled ? 'disabled' : 'enabled'}: ${res.error}`, true);
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin('The server no longer accepts this API key.');
      message(`Not ${disabled ? 'disabled' : 'enabled'}: ${err.message}`, true);
    }
    await refresh();
  }

  function renderClients(clients) {
    const body = $('clients-table').tBodies[0];
    const rows = clients.map((c) => {
      const tr = document.createElement('tr');
      tr.dataset.id = String(c.id);
      const name = el('td', c.token, 'token');
      name.title = c.token;
      tr.append(name);
      tr.append(el('td', c.role));
      tr.append(el('td', c.remote_address, 'mono'));
      const instance = el('td', c.instance ? c.instance.slice(0, 8) : '–', 'mono');
      if (c.instance) instance.title = c.instance;
      tr.append(instance);
      const connected = el('td', since(c.connected_at));
      connected.title = c.connected_at;
      tr.append(connected);
      tr.append(el('td', number(c.channels), 'num channels'));
      tr.append(el('td', bytes(c.bytes_in), 'num'));
      tr.append(el('td', bytes(c.bytes_out), 'num'));
      const cell = el('td', null, 'actions');
      const who = `${c.role} ${c.remote_address} of token ${c.token}`;
      cell.append(unreachable(confirmButton({
        key: `kick\u0000${c.id}`,
        label: 'Kick',
        aria: `Disconnect ${who}`,
        confirmAria: `Confirm: disconnect ${who} and close its channels`,
        action: () => api('DELETE', `${tokenPath(c.token)}/clients/${c.id}`),
        done: (res) => clientMessage(res.success ? `Disconnected ${who}; with reconnect on it comes back under a new id (disable the token to keep it out).` : `Not disconnected: ${res.error}`, !res.success),
        failed: (err) => clientMessage(`Not disconnected: ${err.message}`, true),
      }), c.token));
      tr.append(cell);
      return tr;
    });
    replaceRows(body, rows);
    show($('clients-empty'), clients.length === 0);
  }

  function clientMessage(text, isError) {
    const node = $('client-message');
    node.textContent = text;
    node.className = isError ? 'message error' : 'message ok';
    show(node, text !== '');
  }

  function renderStats(stats) {
    for (const s of stats.history || []) {
      if (s.time > lastSampleTime) {
        samples.push(s);
        lastSampleTime = s.time;
      }
    }
    const oldest = Date.now() - WINDOW_MS;
    samples = samples.filter((s) => s.time >= oldest).slice(-MAX_SAMPLES);
    const latest = samples[samples.length - 1];
    $('fig-channels').textContent = number(stats.channels_open);
    $('fig-clients').textContent = number(stats.clients);
    $('fig-cps').textContent = latest ? number(latest.connections_per_s) : '–';
    $('fig-in').textContent = latest ? rate(latest.bytes_in_per_s) : '–';
    $('fig-out').textContent = latest ? rate(latest.bytes_out_per_s) : '–';
    $('fig-channels-total').textContent = `${number(stats.channels_opened_total)} opened in all`;
    $('fig-in-total').textContent = `${bytes(stats.bytes_in_total)} in all`;
    $('fig-out-total').textContent = `${bytes(stats.bytes_out_total)} in all`;
    const state = $('server-state');
    state.textContent = stats.draining ? 'draining' : 'running';
    state.className = stats.draining ? 'pill warn' : 'pill';
    drawChart($('chart-bytes'), [
      { key: 'bytes_in_per_s', className: 'in' },
      { key: 'bytes_out_per_s', className: 'out' },
    ], rate, 1024);
    drawChart($('chart-channels'), [
      { key: 'channels_open', className: 'open' },
      { key: 'connections_per_s', className: 'rate' },
    ], number, 10);
    if (latest) {
      $('chart-bytes').setAttribute('aria-label', `Traffic over the last 10 minutes; now ${rate(latest.bytes_in_per_s)} in, ${rate(latest.bytes_out_per_s)} out`);
      $('chart-channels').setAttribute('aria-label', `Channels over the last 10 minutes; now ${number(latest.channels_open)} open, ${number(latest.connections_per_s)} new per second`);
    }
  }

  /**
   * Lines over the history kept so far (one minute at least, WINDOW_MS at most) on a viewBox as
   * wide as the chart in CSS pixels, with a vertical scale of four readable steps.
   */
  function drawChart(target, series, format, base) {
    // One viewBox unit per CSS pixel, so the labels keep their size on a narrow screen.
    const W = Math.max(280, Math.round(target.getBoundingClientRect().width) || 600);
    const H = 180;
    target.setAttribute('viewBox', `0 0 ${W} ${H}`);
    // The width/height attributes set the aspect ratio CSS scales by: keep them equal to the viewBox.
    target.setAttribute('width', String(W));
    target.setAttribute('height', String(H));
    const left = 70;
    const right = 8;
    const top = 10;
    const bottom = 22;
    const now = samples.length ? samples[samples.length - 1].time : Date.now();
    const span = Math.min(WINDOW_MS, Math.max(60000, samples.length ? now - samples[0].time : 0));
    let max = 0;
    for (const s of samples) for (const line of series) max = Math.max(max, Number(s[line.key]) || 0);
    // Up to five readable steps, with a little headroom so a flat line stays off the top edge.
    const peak = max > 0 ? max * 1.05 : 4;
    const step = niceStep(peak / 5, base);
    const steps = Math.max(1, Math.ceil(peak / step));
    const scale = step * steps;
    const x = (time) => left + ((time - (now - span)) / span) * (W - left - right);
    const y = (value) => top + (1 - value / scale) * (H - top - bottom);
    const nodes = [];
    for (let i = 0; i <= steps; i += 1) {
      const value = step * i;
      nodes.push(svg('line', { x1: left, x2: W - right, y1: y(value), y2: y(value), class: 'grid' }));
      nodes.push(svg('text', { x: left - 6, y: y(value) + 4, class: 'axis', 'text-anchor': 'end' }, format(value)));
    }
    const tick = [15000, 30000, 60000, 120000, 300000].find((t) => span / t <= 5) || 300000;
    for (let ago = 0; ago <= span; ago += tick) {
      const label = ago === 0 ? 'now' : ago >= 60000 ? `−${ago / 60000} min` : `−${ago / 1000} s`;
      nodes.push(svg('line', { x1: x(now - ago), x2: x(now - ago), y1: H - bottom, y2: H - bottom + 4, class: 'grid' }));
      nodes.push(svg('text', { x: x(now - ago), y: H - 6, class: 'axis', 'text-anchor': ago === 0 ? 'end' : 'middle' }, label));
    }
    for (const line of series) {
      const points = samples.map((s) => `${x(s.time).toFixed(1)},${y(Number(s[line.key]) || 0).toFixed(1)}`);
      if (points.length === 0) continue;
      if (points.length > 1 && line === series[0]) {
        const first = x(samples[0].time).toFixed(1);
        const last = x(samples[samples.length - 1].time).toFixed(1);
        nodes.push(svg('path', { d: `M${first},${y(0)} L${points.join(' L')} L${last},${y(0)} Z`, class: `area ${line.className}` }));
      }
      nodes.push(svg('polyline', { points: points.join(' '), class: `line ${line.className}` }));
    }
    if (samples.length === 0) {
      nodes.push(svg('text', { x: W / 2, y: H / 2, class: 'axis', 'text-anchor': 'middle' }, 'collecting…'));
    }
    target.replaceChildren(...nodes);
  }

  /**
   * A readable step ≥ raw: 1, 2, 2.5 or 5 times a power of ten for counts (quarters below 1); for
   * bytes (base 1024) a power of two of B, KiB, MiB… so that the ticks read 512 KiB, 1 MiB, 1.5 MiB.
   */
  function niceStep(raw, base) {
    if (!(raw > 0)) return 1;
    if (base === 1024) {
      let unit = 1;
      while (raw / unit > 1024) unit *= 1024;
      return 2 ** Math.ceil(Math.log2(Math.max(1, raw / unit))) * unit;
    }
    if (raw <= 1) return raw <= 0.25 ? 0.25 : raw <= 0.5 ? 0.5 : 1;
    const power = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * power) return m * power;
    return 10 * power;
  }

  const EVENT_LABELS = {
    'auth-failed': 'auth failed',
    'listener-error': 'listener error',
    draining: 'draining',
    'client-connected': 'connected',
    'client-disconnected': 'disconnected',
    'token-added': 'token added',
    'token-removed': 'token removed',
    'client-kicked': 'kicked',
    'token-disabled': 'disabled',
    'token-enabled': 'enabled',
    'policy-changed': 'policy',
    'policy-refused': 'refused',
    'quota-exhausted': 'quota',
    'token-expired': 'expired',
  };

  function renderEvents(events) {
    const items = events.map((e) => {
      const li = el('li', null, `event ${e.kind}`);
      const time = el('time', clock(e.time));
      time.dateTime = e.time;
      time.title = e.time;
      li.append(time);
      li.append(el('span', EVENT_LABELS[e.kind] || e.kind, 'tag'));
      li.append(el('span', e.message, 'text'));
      if (e.remote_address) li.append(el('span', e.remote_address, 'mono addr'));
      if (e.count > 1) li.append(el('span', `×${e.count}`, 'count'));
      return li;
    });
    $('events').replaceChildren(...items);
    show($('events-empty'), events.length === 0);
  }

  // ---- add form ---------------------------------------------------------------------------------

  function selectedType() {
    const checked = document.querySelector('#add-form input[name="type"]:checked');
    return checked ? checked.value : 'reverse';
  }

  function updateAddForm() {
    const type = selectedType();
    for (const node of document.querySelectorAll('#add-form [data-for]')) show(node, node.dataset.for === type);
  }

  async function onAdd(event) {
    event.preventDefault();
    const form = event.target;
    const type = selectedType();
    const body = { type };
    const token = form.elements.token.value.trim();
    if (token) body.token = token;
    if (type === 'reverse') {
      const port = form.elements.port.value.trim();
      if (port) body.port = Number(port);
      if (form.elements.username.value) body.username = form.elements.username.value;
      if (form.elements.password.value) body.password = form.elements.password.value;
      if (form.elements.allow_manage_connector.checked) body.allow_manage_connector = true;
    } else if (type === 'connector') {
      body.reverse_token = form.elements.reverse_token.value.trim();
    }
    for (const name of POLICY_INPUTS) {
      const raw = form.elements[name].value.trim();
      if (raw !== '') body[name] = policyValue(name, raw);
    }
    if (type === 'reverse' && form.elements.strategy.value) body.strategy = form.elements.strategy.value;
    markInvalid(form, null, '');
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const res = await api('POST', 'api/token', body);
      if (res.success) {
        message(`Added ${type} token ${res.token}${res.port ? ` on SOCKS5 port ${res.port}` : ''}.`, false);
        form.reset();
        updateAddForm();
      } else {
        message(`Not added: ${res.error}`, true);
        markInvalid(form, null, res.error);
      }
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin('The server no longer accepts this API key.');
      message(`Not added: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
    await refresh();
  }

  // ---- policy forms ----------------------------------------------------------------------------

  const POLICY_INPUTS = ['max_channels', 'rate_limit', 'quota_bytes', 'quota_period', 'expires_at'];

  /** Whole numbers go as JSON numbers; anything else as typed, for the server to parse or refuse. */
  function policyValue(name, raw) {
    return name !== 'quota_period' && name !== 'expires_at' && /^-?\d{1,15}$/.test(raw) ? Number(raw) : raw;
  }

  /** Shows the server's error; the field it names ("max_channels: …") is marked and focused. */
  function markInvalid(form, errorNode, error) {
    for (const input of form.querySelectorAll('[aria-invalid]')) {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    }
    if (errorNode) {
      errorNode.textContent = error;
      show(errorNode, error !== '');
    }
    const field = /^([a-z_]+):/.exec(error);
    const input = field ? form.elements.namedItem(field[1]) : null;
    if (input && typeof input.focus === 'function' && !input.closest('[hidden]')) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', errorNode ? errorNode.id : 'token-message');
      input.focus();
    }
  }

  function openEdit(token) {
    const t = tokenList.find((x) => x.token === token);
    if (!t) return;
    editing = token;
    const form = $('edit-form');
    $('edit-title').textContent = `Policy of token ${token}`;
    const p = t.policy || {};
    for (const name of POLICY_INPUTS) {
      const input = form.elements[name];
      input.value = p[name] === undefined ? '' : String(p[name]);
      input.dataset.was = input.value;
    }
    const strategy = form.elements.strategy;
    strategy.value = t.strategy || '';
    strategy.dataset.was = strategy.value;
    show($('edit-strategy-row'), t.kind === 'reverse' || t.kind === 'autonomy');
    markInvalid(form, $('edit-error'), '');
    message('', false);
    show(form, true);
    form.elements.max_channels.focus();
  }

  function closeEdit() {
    const token = editing;
    editing = '';
    show($('edit-form'), false);
    const button = Array.from(document.querySelectorAll('#tokens-table [data-focus]')).find((b) => b.dataset.focus === `edit\u0000${token}`);
    if (button) button.focus();
  }

  async function onEdit(event) {
    event.preventDefault();
    const form = event.target;
    const token = editing;
    const body = {};
    for (const name of POLICY_INPUTS) {
      const input = form.elements[name];
      const raw = input.value.trim();
      if (raw !== input.dataset.was) body[name] = raw === '' ? null : policyValue(name, raw);
    }
    const strategy = form.elements.strategy;
    if (!$('edit-strategy-row').hidden && strategy.value !== strategy.dataset.was) body.strategy = strategy.value || null;
    if (Object.keys(body).length === 0) return closeEdit();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const res = await api('PATCH', tokenPath(token), body);
      if (res.success) {
        closeEdit();
        message(`Policy of token ${token} saved.`, false);
      } else {
        markInvalid(form, $('edit-error'), res.error);
      }
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin('The server no longer accepts this API key.');
      markInvalid(form, $('edit-error'), `Not saved: ${err.message}`);
    } finally {
      button.disabled = false;
    }
    await refresh();
  }

  // ---- start ----------------------------------------------------------------------------------------

  function init() {
    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('api-key').value;
      if (key) void signIn(key);
    });
    $('logout').addEventListener('click', () => showLogin(''));
    $('add-form').addEventListener('submit', (event) => void onAdd(event));
    $('add-form').addEventListener('change', updateAddForm);
    $('edit-form').addEventListener('submit', (event) => void onEdit(event));
    $('edit-cancel').addEventListener('click', closeEdit);
    $('edit-form').addEventListener('keydown', (event) => {
      if (event.key === 'Escape') closeEdit();
    });
    updateAddForm();
    const key = readFragmentKey() || sessionStorage.getItem(KEY_STORAGE) || '';
    if (key) void signIn(key);
    else showLogin('');
  }

  init();
})();
