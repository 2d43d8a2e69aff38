// forms.js — what every form of the account page shares: reading its fields, and putting the
// server's problem+json errors next to the fields they name (text, aria-invalid and
// aria-describedby, so an error reads without colour and with a screen reader).

export function fieldValue(form, name) {
    const el = form.elements.namedItem(name);
    return el ? el.value : '';
}

function errorElement(form, name) {
    const prefix = form.id.replace(/-form$/, '');
    return document.getElementById(prefix + '-' + name + '-error');
}

export function clearErrors(form) {
    for (const el of form.querySelectorAll('.error, .form-error')) {
        el.textContent = '';
        el.hidden = true;
    }
    for (const input of form.querySelectorAll('[aria-invalid]')) {
        input.removeAttribute('aria-invalid');
        const ids = (input.getAttribute('aria-describedby') || '').split(' ')
            .filter((id) => id && !id.endsWith('-error'));
        if (ids.length) {
            input.setAttribute('aria-describedby', ids.join(' '));
        } else {
            input.removeAttribute('aria-describedby');
        }
    }
}

export function fieldError(form, name, text) {
    const err = errorElement(form, name);
    const input = form.elements.namedItem(name);
    if (!err || !input) {
        formError(form, text);
        return;
    }
    err.textContent = text;
    err.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    const ids = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    if (!ids.includes(err.id)) {
        ids.push(err.id);
    }
    input.setAttribute('aria-describedby', ids.join(' '));
}

export function formError(form, text) {
    const el = form.querySelector('.form-error');
    el.textContent = text;
    el.hidden = false;
}

// Field labels as the server's messages name them ("must be 3 to 50 characters")
function labelOf(form, name) {
    const input = form.elements.namedItem(name);
    const label = input && input.labels && input.labels[0];
    return label ? label.textContent.replace(/\s*\(.*\)\s*$/, '') : name;
}

function waitText(seconds) {
    if (seconds === null) {
        return 'try again later';
    }
    if (seconds < 90) {
        return 'try again in ' + seconds + (seconds === 1 ? ' second' : ' seconds');
    }
    return 'try again in ' + Math.ceil(seconds / 60) + ' minutes';
}

// Shows an ApiError on a form: each entry of "errors" next to its field, 429 and 503 with the
// wait, anything else (or the messages given per status) above the fields. Returns the input
// to focus: the first one in error, or null.
export function showError(form, err, messages = {}) {
    clearErrors(form);
    const p = err.problem || {};
    if (err.status === 429) {
        formError(form, 'Too many failed attempts: ' + waitText(err.retryAfter) + '.');
        return null;
    }
    if (err.status === 503) {
        formError(form, 'The service is unavailable right now: ' + waitText(err.retryAfter) + '.');
        return null;
    }
    if (messages[err.status]) {
        formError(form, messages[err.status]);
        return null;
    }
    if (Array.isArray(p.errors) && p.errors.length) {
        let first = null;
        for (const e of p.errors) {
            fieldError(form, e.field, labelOf(form, e.field) + ' ' + e.detail + '.');
            first = first || form.elements.namedItem(e.field);
        }
        formError(form, p.errors.length === 1 ? 'Please correct the field below.'
            : 'Please correct the ' + p.errors.length + ' fields below.');
        return first;
    }
    formError(form, capitalised(p.detail || err.message) + '.');
    return null;
}

function capitalised(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
}

// Disables the form's buttons while a request runs, so a double press sends nothing twice.
export async function busy(form, work) {
    const buttons = form.querySelectorAll('button');
    for (const b of buttons) {
        b.disabled = true;
    }
    form.setAttribute('aria-busy', 'true');
    try {
        return await work();
    } finally {
        for (const b of buttons) {
            b.disabled = false;
        }
        form.removeAttribute('aria-busy');
    }
}
