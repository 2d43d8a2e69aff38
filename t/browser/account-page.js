// account-page.js — the browser test of the account page (API.md §11): Debian's Chromium,
// driven by playwright-core with the keyboard only, against a development server (BASE).
// Registers, reads the key from the page, confirms with a code from oathtool, saves the
// recovery codes, logs in, creates, edits (a stale edit gets the 412 message), pages and
// deletes products, changes the password, logs out; checks the QR code with zbarimg, the
// errors, the 403 and 429 screens, the viewer's table, the token lifetime, the headers of every
// /account/ response, labels, 375 px, and that no console error or CSP violation occurred.
// Prints TAP lines and "account page: N assertions, M failed"; exit status 0 when all passed.
// Environment: BASE (http://127.0.0.1:PORT), SHOTS (screenshot folder), SQLITE_DB (the
// server's database, to make a viewer), AS_DB_OWNER (a command prefix that runs as its owner),
// CHROMIUM (default /usr/bin/chromium).
'use strict';
const { chromium } = require('playwright-core');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const BASE = process.env.BASE;
const SHOTS = process.env.SHOTS || 'build/account-screens';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    + "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";
const HEADERS = {
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
};
// statuses the flow provokes on purpose; Chromium logs each failed fetch as a console error
const EXPECTED_API_STATUSES = [400, 401, 403, 412, 429];

let count = 0;
let failed = 0;
function ok(cond, name, detail) {
    count++;
    if (cond) {
        console.log('ok ' + count + ' - ' + name);
    } else {
        failed++;
        console.log('not ok ' + count + ' - ' + name);
        if (detail !== undefined) {
            console.log('#   ' + String(detail).split('\n').join('\n#   '));
        }
    }
    return !!cond;
}
function is(got, want, name) {
    return ok(got === want, name, 'got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
}
function like(got, re, name) {
    return ok(re.test(String(got)), name, 'got ' + JSON.stringify(got) + ', want ' + re);
}

// ---- TOTP codes from oathtool

function totp(secret, at) {
    return execFileSync('oathtool', ['--totp', '-b', '--now', '@' + Math.floor(at / 1000), secret])
        .toString().trim();
}
const step = (at) => Math.floor(at / 30000);
async function codeAfterStep(secret, usedStep) {
    while (step(Date.now()) <= usedStep) {
        await new Promise((r) => setTimeout(r, 500));
    }
    const now = Date.now();
    return { code: totp(secret, now), step: step(now) };
}

// ---- the API behind the page's back

async function api(method, p, { token, body, headers } = {}) {
    const h = { ...(headers || {}) };
    if (token) h.Authorization = 'Bearer ' + token;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const res = await fetch(BASE + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { json = null; }
    return { status: res.status, headers: res.headers, json };
}

// ---- the keyboard

async function focused(page, selector) {
    return page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), selector);
}
// Presses Tab (or Shift+Tab) until the element has the focus; false when it is never reached.
async function tabTo(page, selector, back) {
    for (let i = 0; i < 60; i++) {
        if (await focused(page, selector)) return true;
        await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    }
    return false;
}
async function typeIn(page, selector, text) {
    if (!(await tabTo(page, selector))) throw new Error('the keyboard does not reach ' + selector);
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(text);
}
async function press(page, selector, key = 'Enter') {
    if (!(await tabTo(page, selector))) throw new Error('the keyboard does not reach ' + selector);
    await page.keyboard.press(key);
}
const text = (page, selector) => page.locator(selector).innerText();
const visible = (page, selector) => page.locator(selector).isVisible();

// ---- every screen: its labels, 375 px, screenshots

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
async function checkScreen(page, name) {
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.offsetParent !== null && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map((el) => el.id || el.name));
    ok(unlabelled.length === 0, name + ': every field has a label', unlabelled.join(', '));
    await shot(page, name);
    await page.setViewportSize({ width: 375, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    ok(overflow <= 0, name + ': nothing scrolls sideways at 375 px', 'wider by ' + overflow + ' px');
    await shot(page, name + '-375px');
    await page.setViewportSize({ width: 1280, height: 900 });
}

async function main() {
    fs.mkdirSync(SHOTS, { recursive: true });
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
    await context.addInitScript(() => {
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
        });
    });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('console', (m) => {
        if (m.type() !== 'error') return;
        const where = (m.location() && m.location().url) || '';
        const status = /status of (\d+)/.exec(m.text());
        if (status && EXPECTED_API_STATUSES.includes(Number(status[1])) && !new URL(where, BASE).pathname.startsWith('/account/')) {
            return;
        }
        consoleErrors.push(m.text() + ' (' + where + ')');
    });
    page.on('pageerror', (e) => consoleErrors.push('uncaught: ' + e.message));
    const accountResponses = [];
    const requests = [];
    page.on('response', (r) => {
        if (new URL(r.url()).pathname.startsWith('/account')) accountResponses.push(r);
    });
    page.on('request', (r) => requests.push(r));

    const suffix = String(Date.now() % 1e8);
    const user = 'alice' + suffix;
    const password = 'correct horse battery staple';
    const newPassword = 'purple elephant juggling oranges';

    // ---- the login screen
    await page.goto(BASE + '/account/');
    await page.locator('#screen-login').waitFor();
    is(await page.title(), 'Log in — Account', 'the page opens on the login screen');
    ok(await focused(page, '#screen-login h1'), 'the focus starts on the screen heading');
    await checkScreen(page, '01-login');

    // ---- register: the server's field errors next to the fields
    await press(page, '[data-go="register"]');
    ok(await visible(page, '#screen-register'), 'the keyboard opens the register screen');
    like(await text(page, '#register-password-hint'), /at least 12 and at most 128 characters/, 'the password rules are shown');
    await typeIn(page, '#register-username', 'al');
    await typeIn(page, '#register-password', 'password1234');
    await page.keyboard.press('Enter');
    await page.locator('#register-password-error').waitFor();
    like(await text(page, '#register-username-error'), /Username must be 3 to 50 characters/, 'a short username: its error next to the field');
    like(await text(page, '#register-password-error'), /Password is too common/, 'a common password: its error next to the field');
    is(await page.getAttribute('#register-password', 'aria-invalid'), 'true', 'the field in error is marked aria-invalid');
    like(await page.getAttribute('#register-password', 'aria-describedby'), /register-password-error/, 'the field in error is described by its message');
    await checkScreen(page, '02-register-errors');

    await typeIn(page, '#register-username', user);
    await typeIn(page, '#register-password', password);
    const regResponse = page.waitForResponse((r) => r.url().endsWith('/register') && r.request().method() === 'POST');
    await page.keyboard.press('Enter');
    const reg = await (await regResponse).json();
    const secret = new URL(reg.otpauth_uri).searchParams.get('secret');

    // ---- enrolment: QR through a blob URL, the key, the deadline
    await page.locator('#screen-enrol').waitFor();
    await page.waitForFunction(() => document.getElementById('enrol-qr').complete
        && document.getElementById('enrol-qr').naturalWidth > 0);
    like(await page.getAttribute('#enrol-qr', 'src'), /^blob:/, 'the QR code is shown through a blob URL');
    const qrRequest = requests.find((r) => /\/generate-qr\/[^?]*$/.test(r.url()));
    like(qrRequest && qrRequest.headers().authorization, /^Bearer ey/, 'the QR code is fetched with the enrolment token in Authorization');
    const keyShown = await text(page, '#enrol-key');
    like(keyShown, /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/, 'the key is grouped by four for typing');
    is(keyShown.replace(/ /g, ''), secret, 'the key on the page is the secret of the otpauth URI');
    const qrFile = path.join(SHOTS, 'qr-from-page.png');
    await page.locator('#enrol-qr').screenshot({ path: qrFile });
    let decoded = '';
    try {
        decoded = execFileSync('zbarimg', ['--quiet', '--raw', qrFile]).toString().trim();
    } catch (e) {
        decoded = 'zbarimg failed: ' + e.message;
    }
    is(decoded, reg.otpauth_uri, 'the QR code shown on the page decodes (zbarimg) to the otpauth:// URI');
    const left1 = await text(page, '#enrol-left');
    like(left1, /^(10:00|9:[45]\d)$/, 'the enrolment deadline counts from 10 minutes');
    await page.waitForTimeout(2100);
    const left2 = await text(page, '#enrol-left');
    ok(left2 < left1 || left2.length < left1.length, 'the enrolment deadline counts down', left1 + ' then ' + left2);
    is(await page.getAttribute('#confirm-code', 'autocomplete'), 'one-time-code', 'the code field has autocomplete="one-time-code"');
    is(await page.getAttribute('#confirm-code', 'inputmode'), 'numeric', 'the code field has inputmode="numeric"');
    await checkScreen(page, '03-enrol');

    // a wrong code: none of the codes the server would accept now
    const now = Date.now();
    const window3 = [-1, 0, 1].map((d) => totp(secret, now + d * 30000));
    let wrong = window3[1].slice(0, 5) + String((Number(window3[1][5]) + 1) % 10);
    while (window3.includes(wrong)) wrong = String((Number(wrong) + 7) % 1000000).padStart(6, '0');
    await typeIn(page, '#confirm-code', wrong);
    await page.keyboard.press('Enter');
    await page.locator('#confirm-code-error').waitFor();
    like(await text(page, '#confirm-code-error'), /This code is not right/, 'a wrong code shows the error next to the field');
    is(await page.getAttribute('#confirm-code', 'aria-invalid'), 'true', 'the wrong code is marked aria-invalid');
    await checkScreen(page, '04-confirm-wrong-code');

    const confirmAt = Date.now();
    const usedStep = step(confirmAt);
    await typeIn(page, '#confirm-code', totp(secret, confirmAt));
    await page.keyboard.press('Enter');

    // ---- recovery codes: shown once, copy, download
    await page.locator('#screen-recovery').waitFor();
    const codes = await page.locator('#recovery-codes li').allInnerTexts();
    is(codes.length, 10, 'ten recovery codes are shown');
    ok(codes.every((c) => /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{2}$/.test(c)), 'each recovery code reads xxxx-xxxx-xx', codes.join(' '));
    await press(page, '#recovery-copy');
    await page.waitForFunction(() => /copied/.test(document.getElementById('recovery-done').textContent));
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    ok(codes.every((c) => clip.includes(c)), '"Copy" puts the ten codes on the clipboard', clip);
    const downloading = page.waitForEvent('download');
    await press(page, '#recovery-download');
    const download = await downloading;
    is(download.suggestedFilename(), 'recovery-codes-' + user + '.txt', '"Download as .txt" names the file after the account');
    const saved = path.join(SHOTS, download.suggestedFilename());
    await download.saveAs(saved);
    const file = fs.readFileSync(saved, 'utf8');
    ok(codes.every((c) => file.includes(c)), 'the downloaded file holds the ten codes', file);
    await checkScreen(page, '05-recovery-codes');
    await press(page, '#recovery-form button[type="submit"]');
    like(await text(page, '#recovery-form-error'), /Tick the box/, 'continuing asks first that the codes are saved');
    await press(page, '#recovery-saved', 'Space');
    await press(page, '#recovery-form button[type="submit"]');
    await page.locator('#screen-login').waitFor();
    is(await page.inputValue('#login-username'), user, 'the login screen follows, with the username filled in');
    is(await page.locator('#recovery-codes li').count(), 0, 'the recovery codes are gone from the page once saved');

    // ---- log in with a recovery code (the confirming code's step is used up)
    await typeIn(page, '#login-password', password);
    await typeIn(page, '#login-recovery', codes[0]);
    const loginResponse = page.waitForResponse((r) => r.url().endsWith('/login'));
    await page.keyboard.press('Enter');
    const token = (await (await loginResponse).json()).token;
    await page.locator('#screen-products').waitFor();
    is(await text(page, '#session-user'), user, 'logged in: the header names the user');
    is(await text(page, '#session-role'), '(editor)', 'the header shows the role from GET /me');
    like(await text(page, '#session-left'), /^(10:00|9:[45]\d)$/, 'the header counts down the token lifetime');
    const storage = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    ok(storage[0] === 0 && storage[1] === 0 && storage[2] === '' && (await context.cookies()).length === 0,
        'the token is kept in memory only: no localStorage, sessionStorage or cookie', JSON.stringify(storage));

    // ---- products: a field error, create, page, edit, a stale edit, delete
    await typeIn(page, '#product-name', 'Broken');
    await typeIn(page, '#product-price', '-1');
    await page.keyboard.press('Enter');
    await page.locator('#product-price-error').waitFor();
    like(await text(page, '#product-price-error'), /Price must be at least 0/, 'a bad price: the server\'s error next to the field');

    await typeIn(page, '#product-name', 'Laptop');
    await typeIn(page, '#product-description', 'Gaming Laptop');
    await typeIn(page, '#product-price', '1200.00');
    await typeIn(page, '#product-quantity', '5');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /is created/.test(document.getElementById('notice').textContent));
    const row = page.locator('#products-table tbody tr', { hasText: 'Laptop' });
    is(await row.count(), 1, 'the created product is in the table');
    const id = Number(await row.getAttribute('data-id'));
    is((await row.locator('td').allInnerTexts()).slice(0, 4).join('|'), 'Laptop|Gaming Laptop|1200.00|5', 'the row shows name, description, price and quantity');
    let stored = await api('GET', '/products/' + id, { token });
    ok(stored.status === 200 && stored.json.price === 1200 && stored.json.quantity === 5, 'the API has the product as typed', JSON.stringify(stored.json));
    await checkScreen(page, '06-products');

    // eleven more behind the page's back: the table pages by ten
    for (let i = 1; i <= 11; i++) {
        await api('POST', '/products', { token, body: { name: 'Item ' + i, price: i } });
    }
    await press(page, '[data-go="products"]');
    await page.waitForFunction(() => !document.getElementById('products-next').hidden);
    is(await page.locator('#products-table tbody tr').count(), 10, 'the first page shows ten products');
    ok(!(await visible(page, '#products-prev')), 'the first page offers no previous page');
    await press(page, '#products-next');
    await page.waitForFunction(() => /page 2/.test(document.getElementById('products-page').textContent));
    is(await page.locator('#products-table tbody tr').count(), 2, 'the next page (from the Link header) shows the last two');
    ok(!(await visible(page, '#products-next')), 'the last page offers no next page');
    await press(page, '#products-prev');
    await page.waitForFunction(() => /page 1/.test(document.getElementById('products-page').textContent));
    is(await page.locator('#products-table tbody tr').first().getAttribute('data-id'), String(id), 'previous page goes back to the first');

    await press(page, 'button[aria-label="Edit Laptop"]');
    await page.waitForFunction(() => /^Edit product/.test(document.getElementById('product-form-title').textContent));
    is(await page.inputValue('#product-price'), '1200.00', 'edit fills the form with the product');
    await typeIn(page, '#product-price', '1099.99');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /is saved/.test(document.getElementById('notice').textContent));
    stored = await api('GET', '/products/' + id, { token });
    is(stored.json.price, 1099.99, 'the edit is saved (PUT with If-Match)');
    is(await row.locator('td').nth(2).innerText(), '1099.99', 'the table shows the new price');

    await press(page, 'button[aria-label="Edit Laptop"]');
    await page.waitForFunction(() => /^Edit product/.test(document.getElementById('product-form-title').textContent));
    const behind = await api('PATCH', '/products/' + id, { token, body: { quantity: 7 } });
    is(behind.status, 200, 'someone else changes the product through the API');
    await typeIn(page, '#product-price', '999.00');
    await page.keyboard.press('Enter');
    await page.locator('#product-form-error').waitFor();
    like(await text(page, '#product-form-error'), /Someone else changed this product/, 'a stale edit shows the 412 message');
    stored = await api('GET', '/products/' + id, { token });
    ok(stored.json.price === 1099.99 && stored.json.quantity === 7, 'the stale edit wrote nothing', JSON.stringify(stored.json));
    is(await page.inputValue('#product-quantity'), '7', 'the form reloads the current version');
    await checkScreen(page, '07-stale-edit');
    await typeIn(page, '#product-price', '999.00');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /is saved/.test(document.getElementById('notice').textContent));
    stored = await api('GET', '/products/' + id, { token });
    ok(stored.json.price === 999 && stored.json.quantity === 7, 'saved again on the current version, the edit goes through', JSON.stringify(stored.json));

    await press(page, 'button[aria-label="Delete Laptop"]');
    await page.locator('#delete-dialog').waitFor();
    ok(await focused(page, '#delete-cancel'), 'the delete dialog opens on "Keep it"');
    await checkScreen(page, '08-delete-dialog');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.getElementById('delete-dialog').open);
    // the dialog's close handler gives the focus back to the table: wait for it, or the Tab
    // presses below race with that jump
    await page.waitForFunction(() => document.activeElement === document.querySelector('#products-table caption'));
    is((await api('GET', '/products/' + id, { token })).status, 200, 'Escape keeps the product');
    await press(page, 'button[aria-label="Delete Laptop"]');
    await page.locator('#delete-dialog').waitFor();
    await press(page, '#delete-confirm', 'Enter');
    await page.waitForFunction(() => /is deleted/.test(document.getElementById('notice').textContent));
    is((await api('GET', '/products/' + id, { token })).status, 404, 'delete removes the product');
    is(await row.count(), 0, 'the deleted product leaves the table');

    // ---- change password: a weak one is refused next to the field, then a real change
    await press(page, '[data-go="password"]');
    await page.locator('#screen-password').waitFor();
    await typeIn(page, '#password-current', password);
    await typeIn(page, '#password-new', 'short');
    await typeIn(page, '#password-code', '123456');
    await page.keyboard.press('Enter');
    await page.locator('#password-new_password-error').waitFor();
    like(await text(page, '#password-new_password-error'), /New password must be at least 12 characters/, 'a weak new password: the error next to the field');
    await checkScreen(page, '09-change-password');
    const next = await codeAfterStep(secret, usedStep);
    await typeIn(page, '#password-current', password);
    await typeIn(page, '#password-new', newPassword);
    await typeIn(page, '#password-code', next.code);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /password is changed/.test(document.getElementById('notice').textContent));
    ok(true, 'the password is changed');
    is((await api('GET', '/me', { token })).status, 200, 'the page\'s own session stays valid after the change');

    // ---- logout
    await press(page, '#logout');
    await page.waitForFunction(() => /You are logged out/.test(document.getElementById('notice').textContent));
    ok(await visible(page, '#screen-login') && !(await visible(page, '#session-nav')), 'logout returns to the login screen');
    is((await api('GET', '/me', { token })).status, 401, 'the token is revoked after logout');

    // ---- the token's lifetime: the page logs out when it runs out
    await page.clock.install();
    await page.reload();
    await page.locator('#screen-login').waitFor();
    await typeIn(page, '#login-username', user);
    await typeIn(page, '#login-password', newPassword);
    await typeIn(page, '#login-recovery', codes[1]);
    await page.keyboard.press('Enter');
    await page.locator('#screen-products').waitFor();
    ok(true, 'the new password and a second recovery code log in');
    await page.clock.fastForward('10:01');
    await page.waitForFunction(() => /session has ended/.test(document.getElementById('notice').textContent));
    ok(await visible(page, '#screen-login') && !(await visible(page, '#screen-products')), 'the page logs out when the token expires');

    // ---- 403 at login resumes enrolment; the enrolment deadline runs out
    const user2 = 'bob' + suffix;
    await press(page, '[data-go="register"]');
    await typeIn(page, '#register-username', user2);
    await typeIn(page, '#register-password', password);
    const reg2Response = page.waitForResponse((r) => r.url().endsWith('/register'));
    await page.keyboard.press('Enter');
    const reg2 = await (await reg2Response).json();
    await page.locator('#screen-enrol').waitFor();
    await page.reload();
    await page.locator('#screen-login').waitFor();
    await typeIn(page, '#login-username', user2);
    await typeIn(page, '#login-password', password);
    await typeIn(page, '#login-code', '123456');
    await page.keyboard.press('Enter');
    await page.locator('#screen-enrol').waitFor();
    like(await text(page, '#notice'), /not set up yet/, 'a 403 at login resumes enrolment');
    await page.waitForFunction(() => /^[A-Z2-7]{4} /.test(document.getElementById('enrol-key').textContent));
    is((await text(page, '#enrol-key')).replace(/ /g, ''), new URL(reg2.otpauth_uri).searchParams.get('secret'),
        'the resumed enrolment shows the same key');
    await page.clock.fastForward('10:01');
    await page.waitForFunction(() => /ran out/.test(document.getElementById('notice').textContent));
    ok(await visible(page, '#screen-login'), 'when the enrolment deadline passes, the page goes back to login');
    is(await page.inputValue('#login-username'), user2, '... with the username filled in');

    // ---- 429 shows the wait
    const nobody = 'nobody' + suffix;
    for (let i = 0; i < 5; i++) {
        await api('POST', '/login', { body: { username: nobody, password: 'wrong password here', code: '000000' } });
    }
    await typeIn(page, '#login-username', nobody);
    await typeIn(page, '#login-password', 'wrong password here');
    await typeIn(page, '#login-code', '000000');
    await page.keyboard.press('Enter');
    await page.locator('#login-form-error').waitFor();
    like(await text(page, '#login-form-error'), /Too many failed attempts: try again in ([1-5]?[0-9]|60) seconds?\./, '429 shows the wait from Retry-After');
    await checkScreen(page, '10-login-throttled');

    // ---- a viewer is offered no write button
    if (process.env.SQLITE_DB) {
        const prefix = (process.env.AS_DB_OWNER || '').split(' ').filter(Boolean);
        const cmd = prefix.concat(['sqlite3', process.env.SQLITE_DB,
            "UPDATE users SET role = 'viewer' WHERE username = '" + user + "'"]);
        execFileSync(cmd[0], cmd.slice(1));
    }
    await typeIn(page, '#login-username', user);
    await typeIn(page, '#login-password', newPassword);
    await typeIn(page, '#login-recovery', codes[2]);
    await page.keyboard.press('Enter');
    await page.locator('#screen-products').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#products-table tbody tr').length > 0);
    is(await text(page, '#session-role'), '(viewer)', 'a viewer logs in');
    is(await page.locator('#screen-products button:visible', { hasText: /Edit|Delete|Create|Save/ }).count(), 0,
        'a viewer is offered no create, edit or delete button');
    ok(!(await visible(page, '#product-form')) && await visible(page, '#screen-products .viewer-only'),
        'a viewer sees the table and a note instead of the form');
    await checkScreen(page, '11-products-viewer');

    // ---- the headers of every /account/ response, and of the ones a browser does not ask for
    const missing = [];
    for (const r of accountResponses) {
        const h = await r.allHeaders();
        for (const [k, v] of Object.entries(HEADERS)) {
            if (h[k] !== v) missing.push(r.status() + ' ' + r.url() + ': ' + k + ' = ' + h[k]);
        }
    }
    ok(accountResponses.length >= 6 && missing.length === 0,
        'every one of the ' + accountResponses.length + ' responses under /account/ carries the four headers', missing.join('\n'));
    for (const [method, p, status] of [['GET', '/account', 301], ['GET', '/account/no-such-file', 404],
        ['HEAD', '/account/', 200], ['GET', '/account/config.json', 200]]) {
        const res = await fetch(BASE + p, { method, redirect: 'manual' });
        const bad = Object.entries(HEADERS).filter(([k, v]) => res.headers.get(k) !== v).map(([k]) => k);
        ok(res.status === status && bad.length === 0, method + ' ' + p + ': ' + status + ' with the four headers',
            res.status + ' missing ' + bad.join(', '));
    }

    // ---- no console error, no CSP violation; then proof that a violation would be seen
    ok(consoleErrors.length === 0, 'no console errors', consoleErrors.join('\n'));
    const violations = await page.evaluate(() => window.__csp);
    ok(violations.length === 0, 'no CSP violations', violations.join('\n'));
    await page.evaluate(() => {
        const div = document.createElement('div');
        div.setAttribute('style', 'color: red');
        document.body.append(div);
    });
    await page.waitForTimeout(200);
    const control = await page.evaluate(() => window.__csp);
    ok(control.length === 1 && /style-src/.test(control[0]), 'an inline style is refused and reported (the check can fail)', control.join('\n'));

    await browser.close();
}

main().catch((e) => {
    ok(false, 'the browser test ran to its end', e.stack || e.message);
}).finally(() => {
    console.log('1..' + count);
    console.log('account page: ' + count + ' assertions, ' + failed + ' failed');
    if (process.env.COUNTS) fs.writeFileSync(process.env.COUNTS, count + ' ' + failed + '\n');
    process.exit(failed ? 1 : 0);
});
