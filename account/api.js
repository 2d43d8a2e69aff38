// api.js — how the account page talks to mod_secauth: where the API is mounted (config.json
// next to the page, set by the server's configuration), JSON requests with problem+json errors,
// and the session, whose token lives only in this module's memory: a reload or a closed tab
// logs out, and nothing is left in localStorage, sessionStorage or cookies.

let apiBase = '';
let config = {};

export async function loadConfig() {
    const res = await fetch('config.json', { cache: 'no-store', credentials: 'omit' });
    if (!res.ok) {
        throw new Error('config.json: ' + res.status);
    }
    config = await res.json();
    apiBase = String(config.api || '').replace(/\/+$/, '');
    return config;
}

export class ApiError extends Error {
    constructor(status, problem, headers) {
        super(problem.detail || problem.title || 'request failed (' + status + ')');
        this.status = status;
        this.problem = problem;
        this.headers = headers || new Headers();
    }

    // seconds from Retry-After (429, 503), or null
    get retryAfter() {
        const s = parseInt(this.headers.get('Retry-After'), 10);
        return Number.isFinite(s) ? s : null;
    }

    // true when the bearer check refused the token itself (RFC 6750), not the credentials
    get invalidToken() {
        return /error="invalid_token"/.test(this.headers.get('WWW-Authenticate') || '');
    }
}

// One request to the API. Resolves with the Response of a 2xx, rejects with an ApiError
// (status 0 when the server could not be reached).
export async function call(method, path, { body, token, headers, accept } = {}) {
    const h = { Accept: accept || 'application/json', ...(headers || {}) };
    const init = { method, headers: h, credentials: 'omit', cache: 'no-store', redirect: 'error' };
    if (body !== undefined) {
        h['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    if (token) {
        h.Authorization = 'Bearer ' + token;
    }
    let res;
    try {
        res = await fetch(apiBase + path, init);
    } catch (e) {
        throw new ApiError(0, { detail: 'the server cannot be reached: check the connection and try again' });
    }
    if (!res.ok) {
        let problem = {};
        try {
            problem = await res.json();
        } catch (e) {
            problem = {};
        }
        throw new ApiError(res.status, problem, res.headers);
    }
    return res;
}

// The logged-in session: the access token, when it runs out, and who it belongs to.
const session = { token: null, expiresAt: 0, me: null, ticker: null, onEnd: null };

export function startSession(token, expiresIn, onTick, onEnd) {
    endSession();
    session.token = token;
    session.expiresAt = Date.now() + expiresIn * 1000;
    session.onEnd = onEnd;
    // checked every second rather than one long timer, so a machine that slept still logs out
    session.ticker = setInterval(() => {
        const left = secondsLeft();
        onTick(left);
        if (left <= 0) {
            expire('Your session has ended: log in again.');
        }
    }, 1000);
    onTick(secondsLeft());
}

export function secondsLeft() {
    return Math.max(0, Math.ceil((session.expiresAt - Date.now()) / 1000));
}

export function loggedIn() {
    return session.token !== null;
}

export function me() {
    return session.me;
}

export function setMe(who) {
    session.me = who;
}

export function endSession() {
    clearInterval(session.ticker);
    session.ticker = null;
    session.token = null;
    session.expiresAt = 0;
    session.me = null;
}

function expire(message) {
    const onEnd = session.onEnd;
    endSession();
    if (onEnd) {
        onEnd(message);
    }
}

// A request with the session's token. A token the server no longer accepts (expired, revoked
// by a password change elsewhere, account disabled) ends the session: the bearer check says so
// with a WWW-Authenticate challenge, which a wrong current password at POST /password lacks.
export async function authed(method, path, opts = {}) {
    if (!session.token) {
        throw new ApiError(401, { detail: 'not logged in' });
    }
    try {
        return await call(method, path, { ...opts, token: session.token });
    } catch (e) {
        if (e.status === 401 && e.headers.has('WWW-Authenticate')) {
            expire('Your session is no longer valid: log in again.');
        }
        throw e;
    }
}
