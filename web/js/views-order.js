// One order: its items, status history and payments, and what the caller
// may do with it (cancel; for admins ship, deliver, settle cash payments
// and refund completed ones; after a failed payment, pay again). Live:
// polled every 2 s.
import * as api from './api.js';
import { announce, busy, clearFormErrors, field, formSummary, h, keepFocus, nextId, replace,
  showApiErrors } from './dom.js';
import { moneyLiteral, newKey } from './http.js';
import { CARD_METHODS, PAYMENT_METHODS, methodLabel, money, pill, shortId, statusLabel, time } from './format.js';
import { userNames } from './names.js';
import * as session from './session.js';

const CANCELLABLE = new Set(['pending', 'payment_failed', 'paid']);

// Each order's payment attempt in progress: order id → {text, key}, the
// content submitted and its Idempotency-Key. Kept here, not in the "pay
// again" form: every re-render of the page (the 2 s poll, once anything
// changed) makes that form anew, and a submit whose answer was lost and the
// one sent again after a re-render must be one attempt, one payment. An
// answer ends the attempt, so the next submit is a new one with a new key,
// also with the same content (a declined card may be tried again).
const payAttempts = new Map();

// Each order's "pay again" draft: order id → {user, method, token}, what
// was chosen and typed in that form and not yet sent as a payment. Kept
// here for the same reason: the poll draws the form anew whenever the order
// or its payments change (a payment made in another tab, an admin's
// action), and what the user was typing must not vanish under their
// fingers. A submit that made a payment (a 2xx answer, approved or
// declined) ends the draft: the next try starts afresh. An error answer
// keeps it: a refused field is there to correct, and after a lost answer
// the same draft sent again is the same content, so the same attempt and
// key. The order leaving payment_failed ends it too (no form any more).
// `user` keeps one person's input from the next one to log in in this tab.
const payDrafts = new Map();

/**
 * True when an error answer settles a request: sending it again with the
 * same key could only get that answer back. No answer (status 0), 408, 429,
 * a 5xx (the payment may exist: API.md) or the first request still in
 * flight (409 IDEMPOTENCY_KEY_IN_USE) leave the outcome open: a retry keeps
 * the key.
 */
function settles(e) {
  return e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429
    && e.reason !== 'IDEMPOTENCY_KEY_IN_USE';
}

/** The order, its payments and, for admins, its customer's name (null when unknown). */
async function load(id, admin) {
  const [o, p] = await Promise.all([api.getOrder(id), api.listPayments({ order_id: id, limit: 50 })]);
  const customer = admin ? (await userNames([o.order.user_id])).get(o.order.user_id) ?? null : null;
  return { order: o.order, payments: p.payments, customer };
}

export async function orderView({ main, params, isCurrent }) {
  const id = params[0];
  const admin = session.isAdmin();
  let data;
  try {
    data = await load(id, admin);
  } catch (e) {
    if (e.status === 404) {
      replace(main, h('h1', {}, 'Order not found'),
        h('p', {}, 'There is no order ', h('code', {}, id), ' that you can see. ',
          h('a', { href: '#/' }, 'Back to your orders'), '.'));
      return { title: 'Order not found' };
    }
    throw e;
  }
  let lastJson = JSON.stringify(data);
  const body = h('div', { class: 'order-body' });
  const dialog = cancelDialog();
  const refunds = admin ? refundDialog() : null;
  document.body.append(dialog.el);
  if (refunds) document.body.append(refunds.el);

  // Draws the page anew after an action, once its outcome has been said.
  // Never throws: a refresh that fails (a 503, a network blip) says nothing
  // about the action, which was done (or refused) all the same, so its
  // error must not reach the action's caller to be shown as the action's
  // failure (a cancel dialog staying open over an order that is cancelled,
  // an error announced over the success). The 2 s poll draws the page as
  // it is on its next tick, and if the API stays out of reach it says so
  // itself ("Live updates paused", main.js).
  async function refreshAfterAction() {
    try {
      await refresh(false);
    } catch {
      // the poll catches up
    }
  }

  async function act(button, fn, success) {
    await busy(button, async () => {
      try {
        await fn();
        announce(success, 'success');
      } catch (e) {
        announce(e.message, 'error');
      }
      await refreshAfterAction();
    });
  }

  function draw() {
    const { order, payments, customer } = data;
    const live = payments.find((p) => p.status === 'pending' || p.status === 'completed');
    const actions = [];
    if (CANCELLABLE.has(order.status)) {
      const b = h('button', { type: 'button', class: 'btn btn-danger', dataset: { focusKey: 'cancel' } }, 'Cancel order');
      b.addEventListener('click', () => dialog.open(order, b, async (reason) => {
        await api.setOrderStatus(order._id, 'cancelled', reason);
        announce(order.status === 'paid'
          ? 'Order cancelled. Its payment is being refunded.' : 'Order cancelled.', 'success');
        await refreshAfterAction();
      }));
      actions.push(b);
    }
    if (admin && order.status === 'paid') {
      const b = h('button', { type: 'button', class: 'btn btn-primary', dataset: { focusKey: 'ship' } }, 'Mark as shipped');
      b.addEventListener('click', () => act(b, () => api.setOrderStatus(order._id, 'shipped'), 'Order marked as shipped.'));
      actions.push(b);
    }
    if (admin && order.status === 'shipped') {
      const b = h('button', { type: 'button', class: 'btn btn-primary', dataset: { focusKey: 'deliver' } }, 'Mark as delivered');
      b.addEventListener('click', () => act(b, () => api.setOrderStatus(order._id, 'delivered'), 'Order marked as delivered.'));
      actions.push(b);
    }

    replace(body,
      h('div', { class: 'order-head' },
        h('p', { class: 'order-status' }, 'Status: ', pill(order.status, { id: 'order-status', dataset: { status: order.status } })),
        actions.length ? h('div', { class: 'actions' }, actions) : null),
      order.failure_reason ? h('p', { class: 'notice notice-error' }, `Payment failed: ${order.failure_reason}`) : null,
      // A refund leaves a shipped or delivered order in its status: this is
      // what says its money went back (and why it is not in the total value).
      order.refunded_at ? h('p', { class: 'notice notice-refund' }, 'Payment refunded ', time(order.refunded_at),
        order.status === 'cancelled' ? '.' : ': this order no longer counts as received money.') : null,
      h('div', { class: 'order-grid' },
        h('section', { class: 'panel', 'aria-labelledby': 'summary-h' },
          h('h2', { id: 'summary-h' }, 'Summary'),
          h('dl', { class: 'facts' },
            h('dt', {}, 'Order id'), h('dd', {}, h('code', {}, order._id)),
            admin ? [h('dt', {}, 'Customer'), h('dd', { class: 'customer' }, customer !== null
              ? [customer, ' ', h('span', { class: 'hint-inline nowrap' }, `#${order.user_id}`)]
              : `User #${order.user_id}`)] : null,
            h('dt', {}, 'Total'), h('dd', { class: 'strong' }, money(order.total, order.currency)),
            h('dt', {}, 'Payment method'), h('dd', {}, methodLabel(order.payment_method)),
            h('dt', {}, 'Created'), h('dd', {}, time(order.created_at)),
            h('dt', {}, 'Updated'), h('dd', {}, time(order.updated_at)),
            order.refunded_at ? [h('dt', {}, 'Refunded'), h('dd', {}, time(order.refunded_at))] : null)),
        h('section', { class: 'panel', 'aria-labelledby': 'items-h' },
          h('h2', { id: 'items-h' }, 'Items'),
          h('table', { class: 'table items' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Quantity'),
              h('th', { scope: 'col', class: 'num' }, 'Unit price'), h('th', { scope: 'col', class: 'num' }, 'Subtotal'))),
            h('tbody', {}, order.items.map((it) => h('tr', {},
              h('td', { 'data-label': 'Product' }, it.product),
              h('td', { 'data-label': 'Quantity', class: 'num' }, String(it.quantity)),
              h('td', { 'data-label': 'Unit price', class: 'num' }, money(it.price, order.currency)),
              h('td', { 'data-label': 'Subtotal', class: 'num' },
                money((Math.round(it.price * 100) * it.quantity) / 100, order.currency))))),
            h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: 3 }, 'Total'),
              h('td', { class: 'num strong' }, money(order.total, order.currency)))))),
        paymentsSection(order, payments, live),
        h('section', { class: 'panel', 'aria-labelledby': 'history-h' },
          h('h2', { id: 'history-h' }, 'History'),
          h('ol', { class: 'timeline' }, order.history.map((e) => h('li', {},
            pill(e.status), ' ', h('span', { class: 'reason' }, e.reason || ''), ' ', time(e.at)))))));
  }

  function paymentsSection(order, payments, live) {
    const list = payments.length
      ? h('ul', { class: 'payments' }, payments.map((p) => paymentCard(p)))
      : h('p', { class: 'empty' }, order.status === 'pending'
        ? 'The payment is being set up…' : 'No payment has been made for this order.');
    if (order.status !== 'payment_failed') payDrafts.delete(order._id);
    const retry = order.status === 'payment_failed' && !live ? payAgainForm(order) : null;
    return h('section', { class: 'panel', 'aria-labelledby': 'payment-h', id: 'payment' },
      h('h2', { id: 'payment-h' }, payments.length > 1 ? 'Payments' : 'Payment'), list, retry);
  }

  function paymentCard(p) {
    const buttons = [];
    if (admin && p.status === 'pending') {
      const done = h('button', { type: 'button', class: 'btn btn-primary', dataset: { focusKey: `complete-${p.id}` } },
        'Complete payment');
      done.addEventListener('click', () => act(done, () => api.setPaymentStatus(p.id, 'completed'),
        `Payment #${p.id} completed.`));
      const fail = h('button', { type: 'button', class: 'btn', dataset: { focusKey: `fail-${p.id}` } }, 'Mark payment failed');
      fail.addEventListener('click', () => act(fail, () => api.setPaymentStatus(p.id, 'failed'),
        `Payment #${p.id} marked as failed.`));
      buttons.push(done, fail);
    }
    if (admin && p.status === 'completed') {
      const refund = h('button', { type: 'button', class: 'btn btn-danger', dataset: { focusKey: `refund-${p.id}` } },
        'Refund payment');
      refund.addEventListener('click', () => refunds.open(p, data.order, refund, async (_refunded, byHand) => {
        announce(byHand ? `The refund of payment #${p.id} made by hand is recorded.` : `Payment #${p.id} refunded.`,
          'success');
        await refreshAfterAction();
      }));
      buttons.push(refund);
    }
    return h('li', { class: 'payment', dataset: { paymentId: String(p.id) } },
      h('p', { class: 'payment-head' }, h('span', {}, `Payment #${p.id}`), ' ',
        pill(p.status, { class: `pill pill-${p.status} payment-status`, dataset: { status: p.status } })),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Amount'), h('dd', {}, money(p.amount, p.currency)),
        h('dt', {}, 'Method'), h('dd', {}, methodLabel(p.payment_method)),
        h('dt', {}, 'Transaction'), h('dd', {}, h('code', { class: 'wrap' }, p.transaction_id)),
        p.failure_reason ? [h('dt', {}, 'Failure'), h('dd', {}, p.failure_reason)] : null,
        h('dt', {}, 'Updated'), h('dd', {}, time(p.updated_at))),
      buttons.length ? h('div', { class: 'actions' }, buttons) : null);
  }

  function payAgainForm(order) {
    const who = session.user() ? session.user().id : null;
    let draft = payDrafts.get(order._id);
    if (draft && draft.user !== who) {
      payDrafts.delete(order._id);
      draft = undefined;
    }
    // Focus keys: the poll's re-render gives the focus (and the caret) back
    // to the same control of the new form.
    const method = field({ label: 'Payment method', name: 'payment_method', options: PAYMENT_METHODS,
      value: draft ? draft.method : (CARD_METHODS.has(order.payment_method) ? order.payment_method : 'credit_card'),
      attrs: { dataset: { focusKey: 'pay-method' } } });
    const token = field({ label: 'Card token', name: 'payment_token', autocomplete: 'off', value: draft ? draft.token : '',
      hint: 'Test tokens: tok_visa is approved, tok_decline is declined.',
      attrs: { maxlength: 128, dataset: { focusKey: 'pay-token' } } });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { focusKey: 'pay-submit' } },
      `Pay ${money(order.total, order.currency)}`);
    const keepDraft = () => payDrafts.set(order._id, { user: who, method: method.input.value, token: token.input.value });
    method.input.addEventListener('change', keepDraft);
    token.input.addEventListener('input', keepDraft);
    const form = h('form', { class: 'pay-again', novalidate: true, 'aria-labelledby': 'pay-again-h' },
      h('h3', { id: 'pay-again-h' }, 'Pay again'), formSummary(), method.wrap, token.wrap,
      h('div', { class: 'actions' }, submit));
    const showToken = () => { token.wrap.hidden = !CARD_METHODS.has(method.input.value); };
    method.input.addEventListener('change', showToken);
    showToken();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFormErrors(form);
      const b = { order_id: order._id, amount: moneyLiteral(String(order.total)), payment_method: method.input.value };
      if (CARD_METHODS.has(b.payment_method) && token.input.value.trim()) b.payment_token = token.input.value.trim();
      const text = JSON.stringify({ ...b, amount: String(order.total) });
      await busy(submit, async () => {
        let attempt = payAttempts.get(order._id);
        if (!attempt || attempt.text !== text) {
          attempt = { text, key: newKey() };
          payAttempts.set(order._id, attempt);
        }
        const answered = () => { if (payAttempts.get(order._id) === attempt) payAttempts.delete(order._id); };
        let r;
        try {
          r = await api.createPayment(b, attempt.key);
        } catch (e) {
          if (settles(e)) answered();
          showApiErrors(form, e);
          return;
        }
        answered();
        payDrafts.delete(order._id);
        announce(r.payment.status === 'failed' ? `The payment failed: ${r.payment.failure_reason}`
          : `Payment #${r.payment.id} ${statusLabel(r.payment.status).toLowerCase()}.`,
        r.payment.status === 'failed' ? 'error' : 'success');
        await refreshAfterAction();
      });
    });
    return form;
  }

  async function refresh(announceChanges) {
    const next = await load(id, admin);
    if (!isCurrent()) return;
    const json = JSON.stringify(next);
    if (json === lastJson) return;
    const before = data;
    data = next;
    lastJson = json;
    if (announceChanges) {
      if (before.order.status !== next.order.status) {
        announce(`This order is now ${statusLabel(next.order.status).toLowerCase()}.`, 'info');
      } else {
        const old = new Map(before.payments.map((p) => [p.id, p.status]));
        const moved = next.payments.find((p) => old.get(p.id) !== p.status);
        if (moved) announce(`Payment #${moved.id} is now ${statusLabel(moved.status).toLowerCase()}.`, 'info');
      }
    }
    keepFocus(main, draw);
  }

  draw();
  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '‹ All orders')),
    h('h1', {}, 'Order ', h('code', {}, shortId(id))),
    body);

  return {
    title: `Order ${shortId(id)}`,
    poll: () => refresh(true),
    destroy: () => { dialog.el.remove(); if (refunds) refunds.el.remove(); },
  };
}

/**
 * A modal confirmation <dialog> (focus stays inside, Esc or the keep button
 * closes it). Closed, it gives the focus back to the button that opened it,
 * or to the one the poll drew in its place (same data-focus-key), else to
 * the page's h1. Returns its parts for the caller to word: {el, heading,
 * note, confirm, keep, open(opener, onConfirm, focusFirst)}. onConfirm
 * runs while the confirm button reads busy; the dialog closes when it
 * resolves and shows the error in its summary (showApiErrors) when it
 * throws.
 */
function confirmDialog({ id, title, confirm, keep, body = null }) {
  const titleId = nextId(id);
  const heading = h('h2', { id: titleId }, title);
  const note = h('p', { class: 'dialog-note' });
  const confirmButton = h('button', { type: 'submit', class: 'btn btn-danger' }, confirm);
  const keepButton = h('button', { type: 'button', class: 'btn', value: 'keep' }, keep);
  const form = h('form', { novalidate: true }, formSummary(), note, body,
    h('div', { class: 'actions' }, confirmButton, keepButton));
  const el = h('dialog', { class: 'dialog', 'aria-labelledby': titleId }, heading, form);
  let onConfirm = null;
  let opener = null;
  keepButton.addEventListener('click', () => el.close());
  el.addEventListener('close', () => {
    let back = opener;
    if (back && !back.isConnected) {
      back = back.dataset.focusKey
        ? document.querySelector(`#main [data-focus-key="${CSS.escape(back.dataset.focusKey)}"]`) : null;
    }
    back = back || document.querySelector('#main h1');
    if (back) back.focus();
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form);
    await busy(confirmButton, async () => {
      try {
        await onConfirm();
        el.close();
      } catch (e) {
        showApiErrors(form, e);
      }
    });
  });
  return {
    el,
    heading,
    note,
    confirm: confirmButton,
    keep: keepButton,
    open(button, fn, focusFirst) {
      onConfirm = fn;
      opener = button;
      clearFormErrors(form);
      el.showModal();
      focusFirst.focus();
    },
  };
}

/** The "cancel this order?" dialog. */
function cancelDialog() {
  const reason = field({ label: 'Reason (optional)', name: 'reason', attrs: { maxlength: 500 } });
  const d = confirmDialog({ id: 'cancel-h', title: 'Cancel this order?', confirm: 'Yes, cancel order',
    keep: 'Keep order', body: reason.wrap });
  return {
    el: d.el,
    open(order, button, fn) {
      reason.input.value = '';
      d.note.textContent = order.status === 'paid'
        ? `It has been paid: ${money(order.total, order.currency)} will be refunded.`
        : 'Nothing has been charged for it.';
      d.open(button, () => fn(reason.input.value.trim() || undefined), reason.input);
    },
  };
}

/**
 * The admin's "refund this payment?" dialog. A card payment is refunded
 * through the processor. When the processor has no charge of it (409
 * NO_PROCESSOR_CHARGE: an admin completed it by hand, or the processor lost
 * the charge) nothing went back and the payment stays completed: the
 * dialog says so and becomes "Record a refund made by hand?", which sends
 * {"by_hand": true} once a person has returned the money some other way.
 * The API refuses that while the processor does hold a charge (409
 * PROCESSOR_CHARGE): then it turns back into a processor refund.
 * open(payment, order, opener, fn): fn(refunded payment, byHand) runs after
 * a refund succeeded.
 */
function refundDialog() {
  const d = confirmDialog({ id: 'refund-h', title: 'Refund this payment?', confirm: 'Yes, refund payment',
    keep: 'Keep payment' });
  let byHand = false;
  function wording(p, order) {
    const amount = money(p.amount, p.currency);
    let what;
    if (byHand) {
      d.heading.textContent = 'Record a refund made by hand?';
      what = `The card processor has no charge of payment #${p.id} (it was completed without one, or the processor `
        + `lost it), so it cannot send ${amount} back. Once the money has gone back to the customer some other way, `
        + 'record that here. No money moves through the processor: the payment is only marked refunded.';
      d.confirm.textContent = 'Record refund made by hand';
    } else {
      d.heading.textContent = 'Refund this payment?';
      what = CARD_METHODS.has(p.payment_method)
        ? `${amount} goes back to the customer's card through the card processor.`
        : `${methodLabel(p.payment_method)} goes back by hand, as it came: the refund of ${amount} is only `
          + 'recorded, no money moves through the processor.';
      d.confirm.textContent = 'Yes, refund payment';
    }
    const then = { paid: ' The order is cancelled: it can no longer ship.',
      shipped: ' The order stays shipped and shows the refund.',
      delivered: ' The order stays delivered and shows the refund.' }[order.status] || '';
    d.note.textContent = what + then;
  }
  return {
    el: d.el,
    open(p, order, button, fn) {
      byHand = false;
      wording(p, order);
      d.open(button, async () => {
        let r;
        try {
          r = await api.refundPayment(p.id, byHand);
        } catch (e) {
          const was = byHand;
          if (!byHand && e.reason === 'NO_PROCESSOR_CHARGE') byHand = true;
          else if (byHand && e.reason === 'PROCESSOR_CHARGE') byHand = false;
          if (byHand !== was) wording(p, order);
          throw e;
        }
        await fn(r.payment, byHand);
      }, d.keep);   // the choice that changes nothing has the focus first
    },
  };
}
