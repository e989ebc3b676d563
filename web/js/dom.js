// Small DOM helpers. Everything the app shows is built with h(): text is
// always inserted as text nodes, never as HTML, so data from the API cannot
// inject markup. No inline styles either (the page's Content-Security-Policy
// allows only this origin's style sheet).

/**
 * h('button', {class: 'btn', onclick: fn, disabled: true}, 'Save')
 * Attributes: null/undefined/false are skipped, true sets an empty attribute,
 * on<event> functions become listeners, `dataset` is an object of data-*.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces el's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function nextId(prefix = 'id') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * Re-renders a region without losing the keyboard focus: the element that
 * has focus and carries data-focus-key gets it back after render(), and a
 * text field holding the same text its caret and selection too (someone
 * typing when the poll redraws types on where they were).
 */
export function keepFocus(region, render) {
  const active = document.activeElement;
  const inside = Boolean(active && active !== document.body && region.contains(active));
  const key = inside ? active.dataset.focusKey : undefined;
  // null for controls without a caret (selects, buttons, type=number)
  const caret = inside && typeof active.selectionStart === 'number'
    ? { text: active.value, start: active.selectionStart, end: active.selectionEnd, dir: active.selectionDirection }
    : null;
  render();
  if (key) {
    const again = region.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) {
      again.focus();
      if (caret && again.value === caret.text && typeof again.selectionStart === 'number') {
        again.setSelectionRange(caret.start, caret.end, caret.dir);
      }
      return;
    }
  }
  // The focused control is gone (an action removed its button): focus the
  // region's heading rather than dropping the keyboard user to the top.
  if (inside && !active.isConnected) {
    const heading = region.querySelector('h1, h2');
    if (heading) {
      if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  }
}

const flash = () => document.getElementById('flash');
let flashTimer = 0;

/**
 * Shows a message in the page's live region (announced by screen readers):
 * kind 'info' | 'success' | 'error'. Errors stay until the next message or
 * navigation; sticky ones survive the next navigation too (say them, then
 * navigate).
 */
export function announce(message, kind = 'info', { sticky = false } = {}) {
  const el = flash();
  if (!el) return;
  clearTimeout(flashTimer);
  el.replaceChildren();
  el.className = `flash flash-${kind}`;
  if (sticky) el.dataset.sticky = '';
  else delete el.dataset.sticky;
  // A new node each time, so the same text is announced again.
  el.append(h('p', {}, message));
  if (kind !== 'error') flashTimer = setTimeout(() => { el.replaceChildren(); el.className = 'flash'; }, 6000);
}

export function clearAnnouncement() {
  const el = flash();
  if (el) { el.replaceChildren(); el.className = 'flash'; }
}

/** A labelled form field: returns {wrap, input, error}. */
export function field({ label, name, type = 'text', value = '', hint, required, autocomplete, inputmode,
  field: apiField, options, attrs = {} }) {
  const id = nextId(name || 'f');
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  let input;
  if (options) {
    input = h('select', { id, name, ...attrs }, options.map(([v, text]) => h('option', { value: v }, text)));
    input.value = value;
  } else {
    input = h('input', { id, name, type, value, required, autocomplete, inputmode, ...attrs });
  }
  input.dataset.field = apiField || name;
  input.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  const error = h('p', { class: 'field-error', id: errorId });
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    input, error);
  input.addEventListener('input', () => setFieldError(input, null));
  return { wrap, input, error };
}

/** Shows (or with null clears) the error message under a form control. */
export function setFieldError(input, message) {
  const error = document.getElementById(`${input.id}-error`);
  if (message) {
    input.setAttribute('aria-invalid', 'true');
    if (error) error.textContent = message;
  } else {
    input.removeAttribute('aria-invalid');
    if (error) error.textContent = '';
  }
}

/**
 * Puts an API error's details next to the fields they name
 * ({"field": "items[0].quantity", "issue": "..."} → the control with
 * data-field="items[0].quantity"), and the whole message into the form's
 * error summary (role=alert). Focuses the first field at fault.
 * Returns the number of details that found their field.
 */
export function showApiErrors(form, err) {
  clearFormErrors(form);
  const summary = form.querySelector('.form-summary');
  const placed = [];
  for (const d of err.details || []) {
    const control = form.querySelector(`[data-field="${CSS.escape(d.field)}"]`);
    if (control) {
      setFieldError(control, sentence(d.issue));
      placed.push(control);
    }
  }
  if (summary) {
    summary.hidden = false;
    replace(summary,
      h('p', { class: 'summary-title' }, placed.length ? 'Please correct the highlighted field.' : 'That did not work.'),
      h('p', {}, err.message));
  }
  if (placed.length) placed[0].focus();
  else if (summary) summary.focus();
  return placed.length;
}

export function clearFormErrors(form) {
  for (const c of form.querySelectorAll('[aria-invalid="true"]')) setFieldError(c, null);
  const summary = form.querySelector('.form-summary');
  if (summary) { summary.hidden = true; summary.replaceChildren(); }
}

function sentence(s) {
  s = String(s || '');
  return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : s;
}

/** The error summary box a form shows API errors in. */
export function formSummary() {
  return h('div', { class: 'form-summary', role: 'alert', tabindex: '-1', hidden: true });
}

/**
 * Runs an async action for a button, which reads as busy meanwhile; a click
 * or Enter while it runs does nothing (no double submit). The button is not
 * `disabled` (that would drop the keyboard focus), only aria-disabled.
 */
export async function busy(button, fn) {
  if (button.getAttribute('aria-busy') === 'true') return undefined;
  button.setAttribute('aria-busy', 'true');
  button.setAttribute('aria-disabled', 'true');
  try {
    return await fn();
  } finally {
    button.removeAttribute('aria-busy');
    button.removeAttribute('aria-disabled');
  }
}

/**
 * Wires a pager button ("Older ›"): runs fn as busy(); when the button ends
 * up disabled (no page further), the focus moves to the other one.
 */
export function pagerButton(button, other, fn) {
  button.addEventListener('click', () => busy(button, fn)
    .then(() => { if (button.disabled && document.activeElement !== other && !other.disabled) other.focus(); })
    .catch((e) => announce(e.message, 'error')));
}
