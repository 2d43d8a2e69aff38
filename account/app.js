// app.js — the screens of the account page and the way between them: register, two-factor
// enrolment (QR code and key), confirm, recovery codes, login, change password, logout. The
// products screen is products.js. One screen is shown at a time; each change of screen moves
// the focus to its heading, so keyboard and screen-reader users land where the page changed.

import * as api from './api.js';
import { busy, clearErrors, fieldError, fieldValue, formError, showError } from './forms.js';
import { showProducts } from './products.js';

const $ = (id) => document.getElementById(id);
let current = null;

function setNotice(text) {
    const n = $('notice');
    n.textContent = text || '';
    n.hidden = !text;
}

function show(name, notice) {
    if (current === 'enrol' && name !== 'enrol') {
        leaveEnrol();
    }
    if (current === 'recovery' && name !== 'recovery') {
        forgetRecoveryCodes();
    }
    current = name;
    let title = '';
    for (const s of document.querySelectorAll('main > section')) {
        s.hidden = s.id !== 'screen-' + name;
        if (!s.hidden) {
            title = s.dataset.title;
        }
    }
    document.title = title + ' — Account';
    $('session-nav').hidden = !api.loggedIn();
    setNotice(notice);
    $('screen-' + name).querySelector('h1').focus();
}

function minutesSeconds(seconds) {
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return m + ':' + String(s).padStart(2, '0');
}

// ---- the session

function sessionEnded(message) {
    show('login', message);
}

async function beginSession(body) {
    api.startSession(body.token, body.expires_in,
        (left) => { $('session-left').textContent = minutesSeconds(left); }, sessionEnded);
    let me;
    try {
        me = await (await api.authed('GET', '/me')).json();
    } catch (err) {
        api.endSession();
        throw err;
    }
    api.setMe(me);
    $('session-user').textContent = me.username;
    $('session-role').textContent = '(' + me.role + ')';
    await goProducts('Welcome, ' + me.username + '.');
}

async function goProducts(notice) {
    show('products', notice);
    await showProducts(api.me().role, setNotice);
}

// ---- register

async function register(event) {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    const username = fieldValue(form, 'username');
    await busy(form, async () => {
        try {
            const res = await api.call('POST', '/register',
                { body: { username, password: fieldValue(form, 'password') } });
            const body = await res.json();
            form.reset();
            await enrol(body.username, body.enrollment_token, body.enrollment_expires_in,
                'Your account is created. One more step: two-factor login.');
        } catch (err) {
            const first = showError(form, err, {
                409: 'This username is taken: choose another one, or log in if it is yours.',
            });
            (first || form.elements.namedItem(err.status === 409 ? 'username' : 'password')).focus();
        }
    });
}

// ---- enrolment: QR code, key, deadline, confirm

const enrolment = { username: null, token: null, deadline: 0, ticker: null, qrUrl: null };

function groupedKey(secret) {
    return secret.replace(/(.{4})/g, '$1 ').trim();
}

async function enrol(username, token, expiresIn, notice) {
    leaveEnrol();
    enrolment.username = username;
    enrolment.token = token;
    enrolment.deadline = Date.now() + expiresIn * 1000;
    $('enrol-username').textContent = username;
    $('enrol-key').textContent = '…';
    $('enrol-account').textContent = '';
    $('enrol-warning').hidden = true;
    clearErrors($('confirm-form'));
    $('confirm-form').reset();
    tickEnrolment();
    enrolment.ticker = setInterval(tickEnrolment, 1000);
    show('enrol', notice);
    const path = '/generate-qr/' + encodeURIComponent(username);
    try {
        const json = await (await api.call('GET', path + '?format=json', { token })).json();
        const uri = new URL(json.otpauth_uri);
        $('enrol-key').textContent = groupedKey(uri.searchParams.get('secret') || '');
        $('enrol-account').textContent = decodeURIComponent(uri.pathname.replace(/^\/+(totp\/)?/, ''));
        // an <img> cannot send Authorization: fetch the PNG with the token, show it as a blob
        const png = await (await api.call('GET', path, { token, accept: 'image/png' })).blob();
        if (enrolment.token === token) {
            enrolment.qrUrl = URL.createObjectURL(png);
            $('enrol-qr').src = enrolment.qrUrl;
        }
    } catch (err) {
        showError($('confirm-form'), err, {
            401: 'The enrolment has run out: log in with your password to get a new key.',
            409: 'Two-factor login is already set up for this account: log in.',
        });
    }
}

function tickEnrolment() {
    const left = Math.max(0, Math.ceil((enrolment.deadline - Date.now()) / 1000));
    $('enrol-left').textContent = minutesSeconds(left);
    if (left <= 60 && left > 0 && $('enrol-warning').hidden) {
        const w = $('enrol-warning');
        w.textContent = 'One minute left to confirm the code.';
        w.hidden = false;
    }
    if (left === 0) {
        const username = enrolment.username;
        show('login', 'The time to set up two-factor login ran out. Log in with your password: '
            + 'the same key is shown again, with a new deadline.');
        $('login-username').value = username;
    }
}

function leaveEnrol() {
    clearInterval(enrolment.ticker);
    enrolment.ticker = null;
    enrolment.token = null;
    if (enrolment.qrUrl) {
        URL.revokeObjectURL(enrolment.qrUrl);
        enrolment.qrUrl = null;
    }
    $('enrol-qr').removeAttribute('src');
    $('enrol-key').textContent = '';
}

async function confirmCode(event) {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    const code = fieldValue(form, 'code').replace(/\s+/g, '');
    if (!/^[0-9]{6}$/.test(code)) {
        fieldError(form, 'code', 'Enter the six digits your app shows.');
        form.elements.namedItem('code').focus();
        return;
    }
    await busy(form, async () => {
        try {
            const res = await api.call('POST', '/verify-2fa',
                { token: enrolment.token, body: { username: enrolment.username, code } });
            const body = await res.json();
            showRecoveryCodes(enrolment.username, body.recovery_codes);
        } catch (err) {
            if (err.status === 401 && !err.invalidToken) {
                clearErrors(form);
                fieldError(form, 'code', 'This code is not right. Check that the phone\'s clock is '
                    + 'set automatically, then enter the newest code.');
                form.elements.namedItem('code').select();
                form.elements.namedItem('code').focus();
                return;
            }
            showError(form, err, {
                401: 'The enrolment has run out: log in with your password to get a new key.',
                409: 'Two-factor login is already set up for this account: log in.',
            });
            form.elements.namedItem('code').focus();
        }
    });
}

// ---- recovery codes: shown once

const recovery = { username: null, codes: [] };

function showRecoveryCodes(username, codes) {
    recovery.username = username;
    recovery.codes = codes.slice();
    const list = $('recovery-codes');
    list.replaceChildren(...codes.map((c) => {
        const li = document.createElement('li');
        const code = document.createElement('code');
        code.textContent = c;
        li.append(code);
        return li;
    }));
    $('recovery-done').textContent = '';
    $('recovery-form').reset();
    show('recovery', 'Two-factor login is set up.');
}

function recoveryText() {
    return 'Recovery codes of the account ' + recovery.username + '\n'
        + 'Each code logs you in once instead of a code from your authenticator app.\n\n'
        + recovery.codes.join('\n') + '\n';
}

async function copyRecoveryCodes() {
    try {
        await navigator.clipboard.writeText(recoveryText());
        $('recovery-done').textContent = 'The ' + recovery.codes.length + ' codes are copied.';
    } catch (e) {
        // no clipboard access (an insecure origin, a refused permission): select them instead
        const range = document.createRange();
        range.selectNodeContents($('recovery-codes'));
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        $('recovery-done').textContent = 'The codes are selected: press Ctrl+C (or ⌘C) to copy them.';
    }
}

function downloadRecoveryCodes() {
    const url = URL.createObjectURL(new Blob([recoveryText()], { type: 'text/plain' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'recovery-codes-' + recovery.username + '.txt';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    $('recovery-done').textContent = 'The codes are downloaded as ' + a.download + '.';
}

function forgetRecoveryCodes() {
    recovery.codes = [];
    $('recovery-codes').replaceChildren();
}

function recoverySaved(event) {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    if (!form.elements.namedItem('saved').checked) {
        formError(form, 'Tick the box once the codes are saved: they are not shown again.');
        form.elements.namedItem('saved').focus();
        return;
    }
    const username = recovery.username;
    show('login', 'All set: log in with your password and a code from your app.');
    $('login-username').value = username;
    $('login-password').focus();
}

// ---- login

async function login(event) {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    const username = fieldValue(form, 'username');
    const code = fieldValue(form, 'code').replace(/\s+/g, '');
    const recoveryCode = fieldValue(form, 'recovery_code').trim();
    if (!code && !recoveryCode) {
        fieldError(form, 'code', 'Enter the code from your app, or a recovery code below.');
        form.elements.namedItem('code').focus();
        return;
    }
    if (code && recoveryCode) {
        fieldError(form, 'recovery_code', 'Give either the code or a recovery code, not both.');
        form.elements.namedItem('recovery_code').focus();
        return;
    }
    const body = { username, password: fieldValue(form, 'password') };
    if (code) {
        body.code = code;
    } else {
        body.recovery_code = recoveryCode;
    }
    await busy(form, async () => {
        try {
            const res = await api.call('POST', '/login', { body });
            const session = await res.json();
            form.reset();
            await beginSession(session);
        } catch (err) {
            if (err.status === 403 && err.problem.enrollment_token) {
                form.reset();
                await enrol(username, err.problem.enrollment_token, err.problem.enrollment_expires_in,
                    'Two-factor login is not set up yet for this account: finish it here.');
                return;
            }
            showError(form, err, { 401: 'The username, the password or the code is not right.' });
            form.elements.namedItem('code').value = '';
            form.elements.namedItem('recovery_code').value = '';
            form.elements.namedItem(err.status === 401 ? 'password' : 'username').focus();
        }
    });
}

// ---- change password, logout

async function changePassword(event) {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    const body = {
        current_password: fieldValue(form, 'current_password'),
        new_password: fieldValue(form, 'new_password'),
        code: fieldValue(form, 'code').replace(/\s+/g, ''),
    };
    await busy(form, async () => {
        try {
            await api.authed('POST', '/password', { body });
            form.reset();
            setNotice('Your password is changed. Your other sessions are logged out.');
            $('screen-password').querySelector('h1').focus();
        } catch (err) {
            const first = showError(form, err,
                { 401: 'The current password or the code is not right.' });
            (first || form.elements.namedItem('current_password')).focus();
        }
    });
}

async function logout() {
    try {
        await api.authed('POST', '/logout');
    } catch (e) {
        // the token is dropped either way; an expired one is refused by the server anyway
    }
    api.endSession();
    show('login', 'You are logged out.');
}

// ---- wiring

function wire() {
    // a message from before does not belong to the next attempt (capture: before the handler)
    document.addEventListener('submit', () => setNotice(''), true);
    $('register-form').addEventListener('submit', register);
    $('confirm-form').addEventListener('submit', confirmCode);
    $('recovery-form').addEventListener('submit', recoverySaved);
    $('recovery-copy').addEventListener('click', copyRecoveryCodes);
    $('recovery-download').addEventListener('click', downloadRecoveryCodes);
    $('login-form').addEventListener('submit', login);
    $('password-form').addEventListener('submit', changePassword);
    $('logout').addEventListener('click', logout);
    for (const b of document.querySelectorAll('[data-go]')) {
        b.addEventListener('click', () => {
            const to = b.dataset.go;
            if (to === 'products') {
                goProducts();
            } else {
                if (to === 'password') {
                    clearErrors($('password-form'));
                }
                show(to);
            }
        });
    }
}

async function start() {
    wire();
    try {
        const cfg = await api.loadConfig();
        for (const el of document.querySelectorAll('.pw-min')) {
            el.textContent = String(cfg.passwordMinLength || 12);
        }
        show('login');
    } catch (e) {
        show('login', 'The page cannot find its configuration (config.json): ask the administrator.');
    }
}

start();
