// products.js — the products screen: a table paged with the API's Link header, and for the
// roles that may write (editor, admin) a form that creates, or edits with If-Match so that a
// change someone else made in between is never overwritten, and a delete behind a dialog.
// A viewer is offered no button it could not use.

import * as api from './api.js';
import { busy, clearErrors, formError, showError } from './forms.js';

const PAGE_SIZE = 10;
const $ = (id) => document.getElementById(id);
const state = {
    canWrite: false,
    after: 0,        // the id the shown page starts after
    earlier: [],     // the "after" of each page before it, for "Previous page"
    next: null,      // the "after" of the next page, from Link rel="next"
    editing: null,   // {id, etag} while the form edits a product
    deleting: null,
    notify: () => {},
};

export async function showProducts(role, notify) {
    state.canWrite = role === 'editor' || role === 'admin';
    state.notify = notify;
    for (const el of document.querySelectorAll('#screen-products .write-only')) {
        el.hidden = !state.canWrite;
    }
    document.querySelector('#screen-products .viewer-only').hidden = state.canWrite;
    resetForm();
    state.after = 0;
    state.earlier = [];
    await load();
}

function nextAfter(link) {
    // Link: </products?after=20&limit=10>; rel="next"
    const m = /<[^>]*[?&]after=(\d+)[^>]*>\s*;\s*rel="?next"?/.exec(link || '');
    return m ? Number(m[1]) : null;
}

async function load() {
    let res;
    try {
        res = await api.authed('GET', '/products?limit=' + PAGE_SIZE
            + (state.after ? '&after=' + state.after : ''));
    } catch (err) {
        if (api.loggedIn()) {
            state.notify('The products cannot be loaded: ' + err.message + '.');
        }
        return;
    }
    const products = await res.json();
    if (!products.length && state.earlier.length) {
        // the last product of this page went away: show the page before
        state.after = state.earlier.pop();
        await load();
        return;
    }
    state.next = nextAfter(res.headers.get('Link'));
    render(products);
}

// data-label names the column when a narrow screen shows each row as a card
function cell(text, label, className) {
    const td = document.createElement('td');
    td.textContent = text;
    td.dataset.label = label;
    if (className) {
        td.className = className;
    }
    return td;
}

function button(text, label, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
}

function render(products) {
    const rows = products.map((p) => {
        const tr = document.createElement('tr');
        tr.dataset.id = p.id;
        const id = document.createElement('th');
        id.scope = 'row';
        id.textContent = p.id;
        id.dataset.label = 'Id';
        tr.append(id, cell(p.name, 'Name'), cell(p.description === null ? '—' : p.description, 'Description'),
            cell(p.price.toFixed(2), 'Price', 'num'), cell(String(p.quantity), 'Quantity', 'num'));
        if (state.canWrite) {
            const actions = cell('', 'Actions', 'actions');
            actions.append(button('Edit', 'Edit ' + p.name, () => startEdit(p.id)),
                button('Delete', 'Delete ' + p.name, () => askDelete(p)));
            tr.append(actions);
        }
        return tr;
    });
    document.querySelector('#products-table tbody').replaceChildren(...rows);
    $('products-empty').hidden = products.length > 0;
    $('products-page').textContent = 'page ' + (state.earlier.length + 1);
    $('products-first').hidden = state.earlier.length === 0;
    $('products-prev').hidden = state.earlier.length === 0;
    $('products-next').hidden = state.next === null;
}

async function nextPage() {
    if (state.next === null) {
        return;
    }
    state.earlier.push(state.after);
    state.after = state.next;
    await load();
    $('products-table').querySelector('caption').focus();
}

async function previousPage(toFirst) {
    if (!state.earlier.length) {
        return;
    }
    state.after = toFirst ? 0 : state.earlier.pop();
    if (toFirst) {
        state.earlier = [];
    }
    await load();
    $('products-table').querySelector('caption').focus();
}

// ---- create and edit

function resetForm() {
    const form = $('product-form');
    form.reset();
    clearErrors(form);
    state.editing = null;
    $('product-form-title').textContent = 'New product';
    $('product-save').textContent = 'Create the product';
    $('product-cancel').hidden = true;
}

function fill(product) {
    const form = $('product-form');
    form.elements.namedItem('name').value = product.name;
    form.elements.namedItem('description').value = product.description === null ? '' : product.description;
    form.elements.namedItem('price').value = product.price.toFixed(2);
    form.elements.namedItem('quantity').value = String(product.quantity);
}

async function fetchForEdit(id) {
    const res = await api.authed('GET', '/products/' + id);
    const product = await res.json();
    state.editing = { id, etag: res.headers.get('ETag') };
    fill(product);
    $('product-form-title').textContent = 'Edit product ' + id + ': ' + product.name;
    return product;
}

async function startEdit(id) {
    const form = $('product-form');
    clearErrors(form);
    try {
        await fetchForEdit(id);
    } catch (err) {
        if (api.loggedIn()) {
            state.notify(err.status === 404 ? 'That product was deleted in the meantime.'
                : 'The product cannot be loaded: ' + err.message + '.');
            await load();
        }
        return;
    }
    $('product-save').textContent = 'Save the changes';
    $('product-cancel').hidden = false;
    $('product-form-title').focus();
}

// Numbers go to the API as JSON numbers when they read as one; anything else goes as typed,
// so that the server's own rule ("must be a number") is what the user sees.
function numberOrText(text, integer) {
    const t = text.trim();
    const ok = integer ? /^-?\d+$/.test(t) : /^-?\d+(\.\d+)?$/.test(t);
    return ok ? Number(t) : t;
}

function productBody(form) {
    const body = { name: form.elements.namedItem('name').value };
    const description = form.elements.namedItem('description').value;
    if (description !== '' || state.editing) {
        body.description = description === '' ? null : description;
    }
    const price = form.elements.namedItem('price').value;
    if (price.trim() !== '') {
        body.price = numberOrText(price, false);
    }
    const quantity = form.elements.namedItem('quantity').value;
    if (quantity.trim() !== '') {
        body.quantity = numberOrText(quantity, true);
    }
    return body;
}

async function save(event) {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    const body = productBody(form);
    const editing = state.editing;
    await busy(form, async () => {
        try {
            let product;
            if (editing) {
                product = await (await api.authed('PUT', '/products/' + editing.id,
                    { body, headers: { 'If-Match': editing.etag } })).json();
            } else {
                product = await (await api.authed('POST', '/products', { body })).json();
            }
            resetForm();
            await load();
            // said once the table shows it
            state.notify('Product ' + product.id + ' (' + product.name + ') is '
                + (editing ? 'saved.' : 'created.'));
            $('product-form-title').focus();
        } catch (err) {
            await saveFailed(form, err, editing);
        }
    });
}

async function saveFailed(form, err, editing) {
    if (!api.loggedIn()) {
        return;
    }
    if (editing && err.status === 412) {
        try {
            await fetchForEdit(editing.id);
        } catch (e) {
            resetForm();
            await load();
            formError(form, 'Someone else deleted this product while you were editing it.');
            return;
        }
        formError(form, 'Someone else changed this product since you opened it. The form now shows '
            + 'the current version: make your change again, then save.');
        await load();
        $('product-form-title').focus();
        return;
    }
    if (editing && err.status === 404) {
        resetForm();
        await load();
        formError(form, 'Someone else deleted this product while you were editing it.');
        return;
    }
    const first = showError(form, err);
    (first || form.elements.namedItem('name')).focus();
}

// ---- delete

function askDelete(product) {
    state.deleting = product;
    $('delete-name').textContent = 'product ' + product.id + ' (' + product.name + ')';
    $('delete-dialog').returnValue = '';
    $('delete-dialog').showModal();
}

async function closedDelete() {
    const dialog = $('delete-dialog');
    const product = state.deleting;
    state.deleting = null;
    if (dialog.returnValue !== 'delete' || !product) {
        $('products-table').querySelector('caption').focus();
        return;
    }
    let outcome = 'Product ' + product.id + ' (' + product.name + ') is deleted.';
    try {
        await api.authed('DELETE', '/products/' + product.id);
    } catch (err) {
        if (!api.loggedIn()) {
            return;
        }
        outcome = err.status === 404 ? 'That product was deleted already.'
            : 'The product cannot be deleted: ' + err.message + '.';
    }
    if (state.editing && state.editing.id === product.id) {
        resetForm();
    }
    await load();
    state.notify(outcome);
    $('products-table').querySelector('caption').focus();
}

$('product-form').addEventListener('submit', save);
$('product-cancel').addEventListener('click', () => {
    resetForm();
    $('product-form-title').focus();
});
$('products-next').addEventListener('click', nextPage);
$('products-prev').addEventListener('click', () => previousPage(false));
$('products-first').addEventListener('click', () => previousPage(true));
$('delete-dialog').addEventListener('close', closedDelete);
