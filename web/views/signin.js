// Sign in with an API token (from `dojo serve user add`). The server answers with an
// HttpOnly session cookie; the token itself is not kept by the page.

import { sign_in } from '../api.js';
import { h } from '../dom.js';

export function mount(el, { on_signed_in }) {
  const token = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    spellcheck: 'false', 'aria-describedby': 'token-error',
  });
  const error = h('p', { id: 'token-error', class: 'field-error', role: 'alert' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card narrow', 'aria-label': 'Sign in' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'hint' }, 'Paste the API token that ', h('code', {}, 'dojo serve user add'), ' printed for you.'),
    h('label', { for: 'token' }, 'API token'), token, error,
    h('div', { class: 'buttons' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await sign_in(token.value.trim());
      on_signed_in();
    } catch (err) {
      error.textContent = err.status === 401 ? 'That token is not valid (wrong or revoked).' : err.message;
      token.select();
    } finally {
      submit.disabled = false;
    }
  });
  el.append(form);
  token.focus();
  return () => {};
}
