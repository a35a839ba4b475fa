// Small DOM helpers shared by the views: h() builds an element, text() a text node.
// Values are always set as text or attributes, never as HTML, so server strings (log lines,
// file names, error messages) cannot inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A <dialog> that asks to confirm an action; resolves true only on the confirm button.
export function confirm_dialog(question, confirm_label) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'submit', value: 'yes', class: 'danger' }, confirm_label);
    const no = h('button', { type: 'submit', value: 'no', autofocus: true }, 'Keep it');
    const dialog = h('dialog', { class: 'confirm', 'aria-label': question },
      h('form', { method: 'dialog' }, h('p', {}, question), h('div', { class: 'buttons' }, no, yes)));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
