// Log in and sign up.
import * as api from './api.js';
import { announce, busy, clearFormErrors, field, formSummary, h, replace, showApiErrors } from './dom.js';
import { newKey } from './http.js';
import * as session from './session.js';

export async function loginView({ main, query, navigate }) {
  const email = field({ label: 'E-mail', name: 'email', type: 'email', autocomplete: 'username', required: true,
    value: query.get('email') || '' });
  const password = field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password',
    required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Log in');
  const form = h('form', { class: 'panel form-narrow', novalidate: true, 'aria-labelledby': 'login-h' },
    formSummary(), email.wrap, password.wrap, h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form);
    await busy(submit, async () => {
      try {
        const u = await session.login(email.input.value.trim(), password.input.value);
        announce(`Welcome, ${u.name}.`, 'success');
        const next = query.get('next');
        navigate(next && next.startsWith('/') ? `#${next}` : '#/');
      } catch (e) {
        password.input.value = '';
        showApiErrors(form, e);
      }
    });
  });

  replace(main,
    h('div', { class: 'auth' },
      h('h1', { id: 'login-h' }, 'Log in'),
      query.get('created') ? h('p', { class: 'notice' }, 'Your account is ready: log in with your new password.') : null,
      form,
      h('p', { class: 'auth-alt' }, 'New here? ', h('a', { href: '#/signup' }, 'Create an account'), '.')));
  if (email.input.value) setTimeout(() => password.input.focus(), 0);
  return { title: 'Log in' };
}

export async function signupView({ main, navigate }) {
  const name = field({ label: 'Name', name: 'name', autocomplete: 'name', required: true,
    attrs: { maxlength: 100 } });
  const email = field({ label: 'E-mail', name: 'email', type: 'email', autocomplete: 'email', required: true });
  const password = field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'new-password',
    required: true, hint: '8 to 128 characters.', attrs: { minlength: 8, maxlength: 128 } });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create account');
  const form = h('form', { class: 'panel form-narrow', novalidate: true, 'aria-labelledby': 'signup-h' },
    formSummary(), name.wrap, email.wrap, password.wrap, h('div', { class: 'actions' }, submit));

  // One Idempotency-Key per distinct form content: a double submit or a retry
  // after a lost answer creates one account, a corrected form is a new request.
  let last = '';
  let key = '';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form);
    const body = { name: name.input.value, email: email.input.value.trim(), password: password.input.value };
    const text = JSON.stringify(body);
    if (text !== last) { last = text; key = newKey(); }
    await busy(submit, async () => {
      try {
        await api.signUp(body, key);
        announce('Account created. Log in with your new password.', 'success');
        navigate(`#/login?created=1&email=${encodeURIComponent(body.email)}`);
      } catch (e) {
        showApiErrors(form, e);
      }
    });
  });

  replace(main,
    h('div', { class: 'auth' },
      h('h1', { id: 'signup-h' }, 'Create an account'),
      form,
      h('p', { class: 'auth-alt' }, 'Already have an account? ', h('a', { href: '#/login' }, 'Log in'), '.')));
  return { title: 'Sign up' };
}
