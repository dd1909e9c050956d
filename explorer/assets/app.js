// tlog explorer: reads the log's API and verifies what it shows in the
// browser. No framework, no build step. Everything from the log is put on
// the page as text (textContent), never as HTML: entries are written by
// strangers.
'use strict';

(() => {
  // ---------- small helpers ----------

  const enc = new TextEncoder();
  const PIN_KEY = 'tlog-explorer.log-key'; // localStorage: the pinned log key
  const RECENT = 20; // entries on the front page
  const PAGE = 20; // search hits per page
  const SEARCH_FIELDS = ['model', 'digest', 'signer', 'identity', 'system', 'actor', 'resource', 'purpose', 'event'];
  const KINDS = ['model-release/v1', 'decision/v1', 'access/v1', 'evaluation/v1'];

  // el(tag, attrs, ...children): children are nodes or strings (as text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let i = 0;
    for (const p of parts) { out.set(p, i); i += p.length; }
    return out;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

  function b64encode(b) {
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
    return btoa(s);
  }

  // b64decode accepts only canonical standard base64, as the log writes it.
  function b64decode(s) {
    if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Error('not base64');
    const bin = atob(s);
    const b = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    if (b64encode(b) !== s) throw new Error('not canonical base64');
    return b;
  }

  function decimal(s) {
    if (typeof s !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(s)) return null;
    const n = BigInt(s);
    return n < (1n << 64n) ? n : null;
  }

  // jsonIndex reads a JSON number that must be a non-negative integer.
  function jsonIndex(v) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error('not an index: ' + v);
    return BigInt(v);
  }

  class HTTPError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  async function fetchOK(path) {
    const r = await fetch(path, { cache: 'no-store', credentials: 'omit', redirect: 'error' });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try {
        const t = (await r.text()).trim();
        try { msg = JSON.parse(t).error || msg; } catch { if (t) msg = t; }
      } catch { /* keep the status */ }
      throw new HTTPError(r.status, path + ': ' + msg);
    }
    return r;
  }
  const getJSON = async (path) => (await fetchOK(path)).json();

  // ---------- WebCrypto ----------

  // cryptoProblem is why the page cannot verify anything, or "".
  function cryptoProblem() {
    if (!globalThis.crypto || !crypto.subtle) {
      return 'this page has no WebCrypto (browsers offer it only in a secure context: HTTPS, or http://localhost)';
    }
    return '';
  }

  const sha256 = async (b) => new Uint8Array(await crypto.subtle.digest('SHA-256', b));

  // RFC 6962: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right).
  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // rootFromInclusion walks an inclusion proof (RFC 9162, 2.1.3.2) from the
  // leaf hash of entry index in a tree of size, and returns the root it
  // leads to. It throws when the proof has the wrong shape.
  async function rootFromInclusion(index, size, leaf, path) {
    if (index >= size) throw new Error(`index ${index} is not below the tree size ${size}`);
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (const p of path) {
      if (p.length !== 32) throw new Error('a proof hash is not 32 bytes');
      if (sn === 0n) throw new Error('the proof is longer than the tree is deep');
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) throw new Error('the proof is shorter than the tree is deep');
    return r;
  }

  // parseVerifierKey parses a signed-note verifier key,
  // <name>+<8 hex key ID>+<base64(0x01 || Ed25519 public key)>, and checks
  // its key ID (the first 4 bytes of SHA-256(name || "\n" || 0x01 || key)).
  async function parseVerifierKey(vkey) {
    const s = (vkey || '').trim();
    const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(s);
    if (!m) throw new Error('not a verifier key (want <name>+<8 hex digits>+<base64>)');
    const [, name, id, b64] = m;
    let typed;
    try { typed = b64decode(b64); } catch (e) { throw new Error('key: ' + e.message); }
    if (typed.length !== 33 || typed[0] !== 1) throw new Error('not an Ed25519 note key (type 0x01, 32 bytes)');
    const problem = cryptoProblem();
    if (problem) throw new Error('cannot check the key: ' + problem);
    const want = hex((await sha256(concat(enc.encode(name + '\n'), typed))).subarray(0, 4));
    if (want !== id) throw new Error(`key ID ${id} does not match the key (want ${want})`);
    return { name, id, pub: typed.subarray(1), text: s };
  }

  // parseNote splits a signed note (c2sp.org/signed-note) into its text and
  // signature lines, checking nothing but their form.
  function parseNote(s) {
    const split = s.lastIndexOf('\n\n');
    if (split < 0) throw new Error('no blank line before the signatures');
    const text = s.slice(0, split + 1);
    const block = s.slice(split + 2);
    if (!block.endsWith('\n')) throw new Error('the signature block does not end in a newline');
    const sigs = [];
    for (const line of block.slice(0, -1).split('\n')) {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) throw new Error('malformed signature line');
      const b = b64decode(m[2]);
      if (b.length < 5) throw new Error('signature too short');
      sigs.push({ name: m[1], id: hex(b.subarray(0, 4)), sig: b.subarray(4) });
    }
    return { text, sigs };
  }

  // parseCheckpoint reads a checkpoint's text (c2sp.org/tlog-checkpoint).
  function parseCheckpoint(text) {
    const lines = text.split('\n');
    if (lines.length < 4 || lines[lines.length - 1] !== '') throw new Error('want origin, size and root hash lines');
    const origin = lines[0];
    const size = decimal(lines[1]);
    if (!origin) throw new Error('empty origin');
    if (size === null) throw new Error('the size is not a decimal number');
    let root;
    try { root = b64decode(lines[2]); } catch { root = null; }
    if (!root || root.length !== 32) throw new Error('the root hash is not 32 bytes of base64');
    return { origin, size, root, extensions: lines.slice(3, -1) };
  }

  // verifyNoteSignature checks the note's Ed25519 signature by key.
  // It answers {status: 'verified' | 'failed' | 'unchecked', reason}.
  async function verifyNoteSignature(note, cp, key) {
    if (!key) return { status: 'unchecked', reason: 'checkpoint signature not checked: no log key (pin one on the Log key page)' };
    if (cp.origin !== key.name) return { status: 'failed', reason: `the checkpoint's origin "${cp.origin}" is not the key's name "${key.name}"` };
    const sig = note.sigs.find((s) => s.name === key.name && s.id === key.id);
    if (!sig) return { status: 'failed', reason: `the checkpoint carries no signature by the key ${key.name}+${key.id}` };
    if (sig.sig.length !== 64) return { status: 'failed', reason: 'the signature by the key is not 64 bytes' };
    const problem = cryptoProblem();
    if (problem) return { status: 'unchecked', reason: 'checkpoint signature not checked: ' + problem };
    let k;
    try {
      k = await crypto.subtle.importKey('raw', key.pub, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      if (e && e.name === 'NotSupportedError') {
        return { status: 'unchecked', reason: 'checkpoint signature not checked: this browser has no Ed25519 in WebCrypto' };
      }
      return { status: 'failed', reason: 'the key does not import: ' + (e && e.message) };
    }
    let ok;
    try {
      ok = await crypto.subtle.verify({ name: 'Ed25519' }, k, sig.sig, enc.encode(note.text));
    } catch (e) {
      if (e && e.name === 'NotSupportedError') {
        return { status: 'unchecked', reason: 'checkpoint signature not checked: this browser has no Ed25519 in WebCrypto' };
      }
      return { status: 'failed', reason: 'the signature check failed: ' + (e && e.message) };
    }
    return ok
      ? { status: 'verified', reason: `the checkpoint's signature verifies with the key ${key.name}+${key.id}` }
      : { status: 'failed', reason: `the checkpoint's signature by ${key.name}+${key.id} does not verify` };
  }

  // ---------- the log ----------

  let config = { origin: '', log_key: '', witness_policy: false };

  function pinnedKey() {
    try { return localStorage.getItem(PIN_KEY) || ''; } catch { return ''; }
  }

  // keyInUse: the pinned key if any, else the one the server reports.
  function keyInUse() {
    const pinned = pinnedKey();
    if (pinned) return { text: pinned, source: 'pinned in this browser' };
    if (config.log_key) return { text: config.log_key, source: 'reported by the server (explorer/config.json), not pinned' };
    return { text: '', source: 'none: the server reports no key and none is pinned' };
  }

  // loadCheckpoint fetches the latest checkpoint (the witnessed one, with
  // its cosignatures, when the log has a witness policy) and checks its
  // signature with the key in use.
  async function loadCheckpoint() {
    const r = await fetchOK('checkpoint');
    const bytes = new Uint8Array(await r.arrayBuffer());
    const raw = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    const note = parseNote(raw);
    const cp = parseCheckpoint(note.text);
    const used = keyInUse();
    let key = null;
    let sig;
    if (used.text) {
      try {
        key = await parseVerifierKey(used.text);
      } catch (e) {
        sig = { status: 'failed', reason: 'the log key in use does not parse: ' + e.message };
      }
    }
    if (!sig) sig = await verifyNoteSignature(note, cp, key);
    const cosigs = note.sigs.filter((s) => !(key && s.name === key.name && s.id === key.id));
    return { raw, note, cp, used, key, sig, cosigs };
  }

  // cosignatureTime reads the timestamp of a cosignature/v1 signature
  // (c2sp.org/tlog-cosignature): 8 bytes big-endian, then Ed25519's 64.
  function cosignatureTime(sig) {
    if (sig.length !== 72) return null;
    const t = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0);
    if (t > 8640000000000n) return null; // beyond what a Date holds
    return new Date(Number(t) * 1000);
  }

  async function loadEntry(index) {
    const e = await getJSON('api/v1/entries/' + index);
    const bytes = b64decode(e.entry);
    let record = null;
    if (e.record !== undefined) {
      // Show what was hashed: the record decoded from the entry's bytes,
      // not the server's copy of it.
      try { record = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)); } catch { record = null; }
    }
    return { index: BigInt(index), bytes, record, serverLeaf: e.leaf_hash };
  }

  // ---------- rendering records ----------

  const str = (v) => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

  function kindOf(entry) {
    return entry.record && typeof entry.record.kind === 'string' ? entry.record.kind : 'raw';
  }

  // summary is one line about an entry, per kind.
  function summary(entry) {
    const r = entry.record;
    switch (kindOf(entry)) {
      case 'model-release/v1': {
        const names = (r.subjects || []).map((s) => s.name).filter(Boolean);
        const ms = r.model_signing && r.model_signing.model ? ` (model-signing: ${r.model_signing.model})` : '';
        return `release of ${names.join(', ') || 'unnamed subjects'}${ms}`;
      }
      case 'decision/v1':
        return `decision ${str(r.decision_id)} by ${str(r.system)}: ${str(r.model && r.model.name)} ${str(r.model && r.model.version)}${r.outcome ? ' → ' + r.outcome : ''}`;
      case 'access/v1':
        return `access ${str(r.event_id)} in ${str(r.system)}: ${str(r.actor && r.actor.type)} ${str(r.actor && r.actor.id)} ${str(r.action)} ${str(r.resource && r.resource.type)} for ${str(r.purpose)}`;
      case 'evaluation/v1':
        return `evaluation ${str(r.evaluation_id)} of ${str(r.model && r.model.name)} ${str(r.model && r.model.version)} on ${str(r.dataset && r.dataset.name)}`;
      default:
        return `${entry.bytes.length} bytes`;
    }
  }

  function kindBadge(kind) {
    return el('span', { class: 'kind kind-' + kind.replace(/[^a-z]/g, '') }, kind);
  }

  // flatten turns a record into [path, value] rows: model.name, labels.region…
  function flatten(v, prefix, out) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const k of Object.keys(v).sort()) flatten(v[k], prefix ? prefix + '.' + k : k, out);
    } else if (Array.isArray(v) && v.some((x) => x !== null && typeof x === 'object')) {
      v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
    } else {
      out.push([prefix, Array.isArray(v) ? v.join(', ') : str(v)]);
    }
    return out;
  }

  function fields(rows) {
    return el('dl', { class: 'fields' }, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, el('code', {}, v))]));
  }

  function textPreview(bytes) {
    try {
      const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      if (!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s)) return s;
    } catch { /* not text */ }
    return null;
  }

  // ---------- views ----------

  const main = () => document.getElementById('main');

  // gen counts the views shown: a view still loading when the user has
  // moved on to another must not replace it.
  let gen = 0;

  function showNow(...nodes) {
    main().replaceChildren(...nodes);
    window.scrollTo(0, 0);
  }

  // shower returns the show function of the view that starts now.
  function shower() {
    const g = gen;
    return (...nodes) => { if (g === gen) showNow(...nodes); };
  }

  function errorBox(e) {
    return el('p', { class: 'bad', role: 'alert' }, String((e && e.message) || e));
  }

  function sigLine(sig) {
    const cls = sig.status === 'verified' ? 'good' : sig.status === 'failed' ? 'bad' : 'warn';
    const label = sig.status === 'verified' ? 'signature verified' : sig.status === 'failed' ? 'signature not verified' : 'signature not checked';
    return el('p', { id: 'cp-sig', class: 'sig ' + cls, 'data-status': sig.status }, el('strong', {}, label), ': ', sig.reason);
  }

  function checkpointCard(c) {
    const rows = [
      ['origin', c.cp.origin],
      ['tree size', c.cp.size.toString()],
      ['root hash', b64encode(c.cp.root)],
    ];
    if (c.cp.extensions.length) rows.push(['extension lines', c.cp.extensions.join(' | ')]);
    const dl = el('dl', { class: 'fields' },
      el('dt', {}, 'origin'), el('dd', {}, el('code', { id: 'cp-origin' }, rows[0][1])),
      el('dt', {}, 'tree size'), el('dd', {}, el('code', { id: 'cp-size' }, rows[1][1])),
      el('dt', {}, 'root hash'), el('dd', {}, el('code', { id: 'cp-root' }, rows[2][1])),
      rows[3] ? [el('dt', {}, rows[3][0]), el('dd', {}, el('code', {}, rows[3][1]))] : null,
      el('dt', {}, 'log key'), el('dd', {}, el('code', { id: 'key-used' }, c.used.text || '(none)'), el('span', { class: 'note' }, ' ' + c.used.source)),
    );
    return el('section', { class: 'card', id: 'checkpoint' },
      el('h2', {}, 'Latest checkpoint'),
      config.witness_policy ? el('p', { class: 'note' }, 'This log has a witness policy: this is the latest checkpoint its witnesses cosigned to quorum, and it may trail the log by a moment.') : null,
      dl, sigLine(c.sig), witnessList(c),
      el('details', {}, el('summary', {}, 'The checkpoint as served'), el('pre', { class: 'raw' }, c.raw)));
  }

  function witnessList(c) {
    const items = c.cosigs.map((s) => {
      const t = cosignatureTime(s.sig);
      return el('li', { class: 'witness' },
        el('code', { class: 'wname' }, s.name), ' ', el('span', { class: 'note' }, 'key ID ' + s.id), ' ',
        t ? el('span', {}, 'cosigned at ', el('time', { datetime: t.toISOString() }, t.toISOString().replace('.000Z', 'Z')))
          : el('span', { class: 'note' }, `a ${s.sig.length}-byte signature, not a timestamped cosignature`));
    });
    return el('div', { id: 'witnesses' },
      el('h3', {}, 'Witnesses'),
      items.length
        ? [el('ul', { class: 'plain' }, items),
          el('p', { class: 'note' }, 'Cosignature times are as the lines say: this page has no witness keys and does not check cosignatures. ' +
            'tlog verify --policy does.')]
        : el('p', { class: 'note' }, config.witness_policy ? 'No cosignatures on this checkpoint yet.' : 'No cosignatures: this log has no witness policy.'));
  }

  function entryRow(entry) {
    const kind = kindOf(entry);
    return el('li', { class: 'entry-row', 'data-index': entry.index.toString() },
      el('a', { href: '#/entry/' + entry.index, class: 'idx' }, '#' + entry.index),
      ' ', kindBadge(kind), ' ',
      el('span', { class: 'sum' }, summary(entry)));
  }

  function pendingRow(index) {
    return el('li', { class: 'entry-row', 'data-index': index.toString() },
      el('a', { href: '#/entry/' + index, class: 'idx' }, '#' + index), ' ', el('span', { class: 'note' }, 'loading…'));
  }

  // fillRows loads each entry of the list, a few at a time.
  async function fillRows(list, indices) {
    const g = gen; // stop when the user moves on
    let next = 0;
    const rows = indices.map((i) => { const r = pendingRow(i); list.append(r); return r; });
    async function worker() {
      while (next < indices.length && g === gen) {
        const k = next++;
        try {
          rows[k].replaceWith(entryRow(await loadEntry(indices[k])));
        } catch (e) {
          rows[k].append(' ', el('span', { class: 'bad' }, e.message));
        }
      }
    }
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  async function viewHome() {
    const show = shower();
    document.title = 'tlog explorer';
    let c;
    try {
      c = await loadCheckpoint();
    } catch (e) {
      show(el('h1', {}, 'Log'), errorBox(e));
      return;
    }
    const list = el('ol', { class: 'entries', id: 'recent' });
    const n = c.cp.size;
    const indices = [];
    for (let i = n - 1n; i >= 0n && indices.length < RECENT; i--) indices.push(i);
    show(el('h1', {}, c.cp.origin),
      checkpointCard(c),
      el('section', { class: 'card' },
        el('h2', {}, 'Recent entries'),
        n === 0n ? el('p', {}, 'The log is empty.') : list,
        el('p', { class: 'note' }, 'Open an entry to verify it.')));
    await fillRows(list, indices);
  }

  function searchForm(q) {
    const field = SEARCH_FIELDS.find((f) => q.has(f)) || 'model';
    const sel = el('select', { id: 'search-field', name: 'field' }, SEARCH_FIELDS.map((f) => el('option', { value: f, selected: f === field }, f)));
    const input = el('input', { id: 'search-value', name: 'value', type: 'search', required: true, value: q.get(field) || '', placeholder: 'e.g. acme/fraud-v3', autocomplete: 'off' });
    const kind = el('select', { id: 'search-kind', name: 'kind' }, el('option', { value: '' }, 'any kind'), KINDS.map((k) => el('option', { value: k, selected: q.get('kind') === k }, k)));
    const form = el('form', {
      class: 'search', id: 'search-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        const p = new URLSearchParams();
        p.set(sel.value, input.value.trim());
        if (kind.value) p.set('kind', kind.value);
        location.hash = '#/search?' + p.toString();
      },
    },
    el('label', {}, 'field ', sel), el('label', { class: 'grow' }, 'value ', input), el('label', {}, 'kind ', kind),
    el('button', { type: 'submit', id: 'search-submit' }, 'Search'));
    return form;
  }

  const unauthenticated = () => el('p', { class: 'warn', id: 'search-warning' },
    el('strong', {}, 'Search results are not authenticated. '),
    'They come from an index the log keeps beside its tree; nothing signs them, and a dishonest log could leave entries out. ' +
    'Each hit can be proven (open it); to know that nothing is missing, read the whole log from its tiles.');

  async function viewSearch(q) {
    const show = shower();
    document.title = 'Search — tlog explorer';
    const field = SEARCH_FIELDS.find((f) => q.has(f));
    const parts = [el('h1', {}, 'Search'), searchForm(q), unauthenticated()];
    if (!field) { show(...parts); return; }
    const p = new URLSearchParams();
    p.set(field, q.get(field));
    if (q.get('kind')) p.set('kind', q.get('kind'));
    p.set('limit', String(PAGE));
    if (q.get('cursor')) p.set('cursor', q.get('cursor'));
    const results = el('section', { class: 'card', id: 'results' }, el('p', {}, 'Searching…'));
    show(...parts, results);
    let res;
    try {
      res = await getJSON('api/v1/search?' + p.toString());
    } catch (e) {
      results.replaceChildren(errorBox(e));
      return;
    }
    const hits = (res.results || []).map((h) => jsonIndex(h.index));
    const list = el('ol', { class: 'entries', id: 'hits' });
    const more = [];
    if (res.next_cursor) {
      const nq = new URLSearchParams(q);
      nq.set('cursor', res.next_cursor);
      more.push(el('p', {}, el('a', { href: '#/search?' + nq.toString(), id: 'next-page' }, 'Older results →')));
    }
    results.replaceChildren(
      el('h2', {}, `${hits.length} ${hits.length === 1 ? 'entry' : 'entries'} with ${field} = `, el('code', {}, q.get(field)), q.get('cursor') ? ' (older page)' : ''),
      hits.length ? list : el('p', {}, 'No entries found.'), ...more);
    await fillRows(list, hits);
  }

  // verifyEntry proves the entry against the checkpoint: its leaf hash,
  // walked up the inclusion proof, must be the checkpoint's root, and the
  // checkpoint's signature must verify.
  async function verifyEntry(entry, c) {
    const reasons = [];
    let pathOK = false;
    let proof = null;
    let computed = null;
    let leaf = null;
    const problem = cryptoProblem();
    if (problem) {
      reasons.push('nothing checked: ' + problem);
    } else if (entry.index >= c.cp.size) {
      reasons.push(`entry ${entry.index} is not in the checkpoint's tree yet (size ${c.cp.size}); reload in a moment`);
    } else {
      leaf = await leafHash(entry.bytes);
      try {
        proof = await getJSON(`api/v1/proofs/inclusion?index=${entry.index}&size=${c.cp.size}`);
        if (jsonIndex(proof.index) !== entry.index || jsonIndex(proof.tree_size) !== c.cp.size) throw new Error('the proof is for another index or size');
        const path = (proof.hashes || []).map(b64decode);
        computed = await rootFromInclusion(entry.index, c.cp.size, leaf, path);
        pathOK = equalBytes(computed, c.cp.root);
        reasons.push(pathOK
          ? `the entry's leaf hash leads through the ${path.length}-hash inclusion proof to the checkpoint's root`
          : "the inclusion proof does not lead to the checkpoint's root: it gives " + b64encode(computed) + ', the checkpoint says ' + b64encode(c.cp.root));
      } catch (e) {
        reasons.push('the inclusion proof is unusable: ' + e.message);
      }
    }
    reasons.push(c.sig.reason);
    return { ok: pathOK && c.sig.status === 'verified', reasons, proof, computed, leaf };
  }

  async function viewEntry(indexText) {
    const show = shower();
    const index = decimal(indexText);
    document.title = `Entry ${indexText} — tlog explorer`;
    if (index === null) { show(el('h1', {}, 'Entry'), errorBox('not an entry index: ' + indexText)); return; }
    const status = el('section', { class: 'card status', id: 'status', 'data-status': 'pending' }, el('p', {}, 'Verifying…'));
    show(el('h1', {}, 'Entry #' + index), status);
    let c;
    let entry;
    try {
      [c, entry] = await Promise.all([loadCheckpoint(), loadEntry(index)]);
    } catch (e) {
      status.dataset.status = 'error';
      status.replaceChildren(errorBox(e));
      return;
    }
    const v = await verifyEntry(entry, c);
    status.dataset.status = v.ok ? 'verified' : 'not-verified';
    status.classList.add(v.ok ? 'good' : 'bad');
    status.replaceChildren(
      el('p', { class: 'verdict', id: 'verdict' }, v.ok ? 'verified' : 'not verified'),
      el('ul', { id: 'status-reasons' }, v.reasons.map((r) => el('li', {}, r))),
      el('dl', { class: 'fields' },
        el('dt', {}, 'log key used'), el('dd', {}, el('code', { id: 'key-used' }, c.used.text || '(none)'), el('span', { class: 'note' }, ' ' + c.used.source)),
        el('dt', {}, 'checkpoint'), el('dd', {}, el('code', {}, `${c.cp.origin}, size ${c.cp.size}, root ${b64encode(c.cp.root)}`))),
      el('details', {}, el('summary', {}, 'What "verified" means here'),
        el('p', {}, 'It means: the entry bytes below, hashed in this browser as an RFC 6962 leaf (SHA-256 of 0x00 and the bytes), lead through the inclusion proof the log sent to the root hash of the checkpoint above, and that checkpoint carries a valid Ed25519 signature by the log key above, checked with WebCrypto.'),
        el('p', {}, 'It does not mean: that the key is the log\'s real key, unless you pinned it from a source you trust (a key the server reports vouches only for itself); that the log shows everyone the same tree (witnesses check that; this page does not check their cosignatures); or anything about the record\'s content — its time is what its writer said, and a release\'s publisher signature is not re-checked here (tlog verify --attestation does).')));

    const kind = kindOf(entry);
    const body = [el('h2', {}, 'Entry ', kindBadge(kind))];
    if (entry.record) {
      body.push(el('p', { class: 'sum', id: 'entry-summary' }, summary(entry)));
      body.push(fields(flatten(entry.record, '', [])));
    } else {
      const rows = [['size', entry.bytes.length + ' bytes']];
      if (v.leaf) rows.push(['leaf hash (hex)', hex(v.leaf)]);
      body.push(el('p', { class: 'sum', id: 'entry-summary' }, `raw entry, ${entry.bytes.length} bytes`), fields(rows));
      const t = textPreview(entry.bytes);
      body.push(t !== null
        ? el('details', {}, el('summary', {}, 'The entry as text'), el('pre', { class: 'raw' }, t))
        : el('details', {}, el('summary', {}, 'The entry in hex'), el('pre', { class: 'raw' }, hex(entry.bytes))));
    }
    if (entry.record) body.push(el('details', {}, el('summary', {}, 'The entry bytes (canonical JSON)'), el('pre', { class: 'raw' }, new TextDecoder().decode(entry.bytes))));
    const proofRows = [['index', entry.index.toString()], ['tree size', c.cp.size.toString()]];
    if (v.leaf) proofRows.push(['leaf hash (computed)', b64encode(v.leaf)]);
    if (v.computed) proofRows.push(['root (computed)', b64encode(v.computed)]);
    if (v.proof) (v.proof.hashes || []).forEach((h, i) => proofRows.push([`proof hash ${i}`, h]));
    show(el('h1', {}, 'Entry #' + index), status,
      el('section', { class: 'card', id: 'entry' }, body),
      el('section', { class: 'card' }, el('h2', {}, 'Inclusion proof'), fields(proofRows)),
      el('p', {}, el('a', { href: 'api/v1/entries/' + index + '/tlog-proof' }, 'Download the tlog-proof file'), ' — for offline checks with ', el('code', {}, 'tlog verify'), '.'));
  }

  async function viewKey() {
    const show = shower();
    document.title = 'Log key — tlog explorer';
    const used = keyInUse();
    const input = el('textarea', { id: 'key-input', rows: 3, spellcheck: 'false', placeholder: 'origin+1234abcd+AbC…' }, pinnedKey());
    const msg = el('p', { id: 'key-msg', role: 'status' });
    const pin = el('button', {
      type: 'button', id: 'key-pin',
      onclick: async () => {
        try {
          const k = await parseVerifierKey(input.value);
          localStorage.setItem(PIN_KEY, k.text);
          msg.className = 'good';
          msg.textContent = `Pinned ${k.name}+${k.id}. Checkpoints are now checked with it.`;
          current.textContent = k.text;
          source.textContent = ' pinned in this browser';
        } catch (e) {
          msg.className = 'bad';
          msg.textContent = 'Not pinned: ' + e.message;
        }
      },
    }, 'Pin this key');
    const unpin = el('button', {
      type: 'button', id: 'key-unpin',
      onclick: () => {
        localStorage.removeItem(PIN_KEY);
        const u = keyInUse();
        current.textContent = u.text || '(none)';
        source.textContent = ' ' + u.source;
        msg.className = '';
        msg.textContent = 'Unpinned.';
      },
    }, 'Unpin');
    const current = el('code', { id: 'key-current' }, used.text || '(none)');
    const source = el('span', { class: 'note', id: 'key-source' }, ' ' + used.source);
    const differs = config.log_key && pinnedKey() && pinnedKey() !== config.log_key;
    show(el('h1', {}, 'Log key'),
      el('section', { class: 'card' },
        el('p', {}, 'Checkpoint signatures are checked with: ', current, source),
        el('p', {}, 'The server reports: ', el('code', {}, config.log_key || '(no key)')),
        differs ? el('p', { class: 'warn' }, 'The pinned key differs from the one the server reports.') : null,
        el('p', {}, 'A key the server reports proves nothing against the server itself: a dishonest log would report its own key. ' +
          'Get the log\'s verifier key from its operator (tlog serve prints it; it is DIR/log.pub) and pin it here. It stays in this browser (localStorage).'),
        el('label', { for: 'key-input' }, 'Verifier key (<name>+<key ID>+<base64>)'), input,
        el('p', { class: 'buttons' }, pin, ' ', unpin), msg));
  }

  // ---------- routing ----------

  async function route() {
    const g = ++gen;
    const h = location.hash || '#/';
    const [path, qs] = h.slice(1).split('?', 2);
    const q = new URLSearchParams(qs || '');
    let m;
    try {
      if ((m = /^\/entry\/([^/]+)$/.exec(path))) await viewEntry(decodeURIComponent(m[1]));
      else if (path === '/search') await viewSearch(q);
      else if (path === '/key') await viewKey();
      else await viewHome();
    } catch (e) {
      if (g === gen) showNow(el('h1', {}, 'Error'), errorBox(e));
    }
  }

  async function start() {
    try {
      config = Object.assign(config, await getJSON('explorer/config.json'));
    } catch (e) {
      config.error = e.message;
    }
    window.addEventListener('hashchange', route);
    await route();
  }

  start();
})();
