// Building the page: every value goes in as text (a text node or an attribute), never as
// markup, and links only ever point into this site.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'href') el.setAttribute('href', safeHref(v));
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A path on this site, or "#": never "javascript:", another host or a protocol-relative URL.
export function safeHref(v) {
  const s = String(v);
  return (s.startsWith('/') && !s.startsWith('//') && !s.startsWith('/\\')) ||
    s.startsWith('?') || s.startsWith('#') ? s : '#';
}

// "/a/b%20c" for the segments ["a", "b c"].
export function pathOf(segments) {
  return '/' + segments.map(encodeURIComponent).join('/');
}

export function fmtSize(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtTime(iso) {
  if (!iso) return 'never';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
}

export function timeEl(iso) {
  return iso ? h('time', { datetime: iso }, fmtTime(iso)) : 'never';
}

// Announces a short message to screen readers (and shows it briefly).
export function announce(msg) {
  const s = document.getElementById('status');
  s.textContent = '';
  setTimeout(() => { s.textContent = msg; }, 30);
  const toast = document.getElementById('toast') ||
    document.body.appendChild(h('div', { id: 'toast', class: 'toast', 'aria-hidden': 'true' }));
  toast.textContent = msg;
  toast.classList.add('show');
  clearTimeout(announce.t);
  announce.t = setTimeout(() => toast.classList.remove('show'), 2000);
}

export function copyButton(text, label) {
  return h('button', {
    type: 'button', class: 'copy', 'aria-label': label, title: label,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        announce('Copied');
      } catch (e) {
        announce('Copy failed: select the text and copy it');
      }
    },
  }, 'Copy');
}

// A wide table in a box that scrolls sideways on a narrow screen (and takes focus, so the
// keyboard can scroll it).
export function tableBox(label, table) {
  return h('div', { class: 'table-box', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

// Asks before something irreversible; resolves true when confirmed.
export function confirmDialog(title, lines, action) {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: 'danger' }, action);
    const cancel = h('button', { type: 'button' }, 'Cancel');
    const d = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      lines.map((l) => h('p', null, l)),
      h('div', { class: 'actions' }, cancel, ok));
    const done = (v) => { d.close(); d.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    d.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(d);
    d.showModal();
    cancel.focus();
  });
}
