// openapi-validate.mjs — checks recorded HTTP exchanges with mod_secauth against docs/openapi.yaml:
// each response's status, content type, documented headers and body (JSON Schema 2020-12 with
// ajv), the request body against its schema, every documented operation exercised, and every
// example of the document valid. Used by t/openapi.t:
//   node openapi-validate.mjs docs/openapi.yaml < exchanges.json > results.json
// exchanges.json: [{"name", "method", "path", "status", "headers": {lower-case: value},
//   "body_b64", "request_type", "request_b64", "semantic"}]; "semantic" marks a request refused for a
// reason no schema can express (a common password), so its 400 needs no schema error.
// results.json: [{"name", "ok", "errors": [...]}], one per exchange, then "coverage" and "examples".
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const docPath = process.argv[2];
if (!docPath) {
  console.error('usage: node openapi-validate.mjs OPENAPI.yaml < exchanges.json');
  process.exit(2);
}
const doc = YAML.parse(readFileSync(docPath, 'utf8'));
const DOC_ID = 'openapi';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
// Prices have at most two decimal places; multipleOf 0.01 cannot say so in binary floating point.
ajv.addKeyword({
  keyword: 'x-decimal-places',
  type: 'number',
  schemaType: 'number',
  errors: false,
  validate: (places, data) => Number(data.toFixed(places)) === data,
});
ajv.addSchema(doc, DOC_ID);

const escape = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const pointer = (parts) => '#/' + parts.map(escape).join('/');

// Follows a local $ref of a non-schema object (response, header, parameter, request body);
// returns [object, its JSON pointer parts].
function deref(obj, parts) {
  let seen = 0;
  while (obj && obj.$ref) {
    if (!obj.$ref.startsWith('#/') || ++seen > 20) throw new Error(`unsupported $ref ${obj.$ref}`);
    parts = obj.$ref.slice(2).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    obj = parts.reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return [obj, parts];
}

const compiled = new Map();
function validator(parts) {
  const ref = DOC_ID + pointer(parts);
  if (!compiled.has(ref)) compiled.set(ref, ajv.compile({ $ref: ref }));
  return compiled.get(ref);
}
function check(parts, value) {
  const v = validator(parts);
  return v(value) ? [] : v.errors.map((e) => `${e.instancePath || '(body)'} ${e.message}` +
    (e.params && e.params.additionalProperty ? ` '${e.params.additionalProperty}'` : '') +
    (e.params && e.params.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}` : ''));
}

// Path templates, literal ones first so that /users/{id} never shadows a literal path.
const templates = Object.keys(doc.paths)
  .map((t) => ({
    template: t,
    params: (t.match(/\{[^}]+\}/g) || []).length,
    re: new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  }))
  .sort((a, b) => a.params - b.params);

function findOperation(method, path) {
  const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
  for (const t of templates) {
    if (t.re.test(path) && doc.paths[t.template][m]) {
      return { key: `${m.toUpperCase()} ${t.template}`, parts: ['paths', t.template, m],
               op: doc.paths[t.template][m] };
    }
  }
  return null;
}

const isJson = (type) => type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type);

// Every price in a JSON text has at most two decimals as written (19.99, never 19.989999999999998).
function checkPriceText(text) {
  const errors = [];
  for (const m of text.matchAll(/"price"\s*:\s*(-?[0-9][0-9.eE+-]*)/g)) {
    if (!/^-?[0-9]+(\.[0-9]{1,2})?$/.test(m[1].replace(/\.0$/, ''))) {
      errors.push(`price written as ${m[1]}: not exact to the cent`);
    }
  }
  return errors;
}

const exercised = new Set();

function validateExchange(x) {
  const errors = [];
  const found = findOperation(x.method, x.path);
  if (!found) return [`${x.method} ${x.path} is not an operation of the document`];
  exercised.add(found.key);
  const headers = x.headers || {};
  const body = Buffer.from(x.body_b64 || '', 'base64');
  const fullType = headers['content-type'] || '';
  const type = fullType.split(';')[0].trim().toLowerCase();

  // §1: every response of the API says no-store
  if (headers['cache-control'] !== 'no-store') {
    errors.push(`Cache-Control is ${JSON.stringify(headers['cache-control'])}, not "no-store"`);
  }

  const responses = found.op.responses || {};
  const key = String(x.status);
  const rkey = key in responses ? key : `${key[0]}XX` in responses ? `${key[0]}XX`
    : 'default' in responses ? 'default' : null;
  if (!rkey) {
    errors.push(`status ${x.status} is not documented for ${found.key}` +
                (body.length ? ` (body: ${body.toString('utf8').slice(0, 200)})` : ''));
    return errors;
  }
  const [response, rparts] = deref(responses[rkey], [...found.parts, 'responses', rkey]);

  for (const [name, h] of Object.entries(response.headers || {})) {
    const [header, hparts] = deref(h, [...rparts, 'headers', name]);
    const value = headers[name.toLowerCase()];
    if (value === undefined) {
      if (header.required) errors.push(`header ${name} is missing`);
      continue;
    }
    if (header.schema) {
      for (const e of check([...hparts, 'schema'], value)) errors.push(`header ${name}: ${e}`);
    }
  }

  const content = response.content || {};
  if (!Object.keys(content).length) {
    if (body.length) errors.push(`a ${x.status} has no body, got ${body.length} bytes`);
    return errors;
  }
  if (!(type in content)) {
    errors.push(`content type ${JSON.stringify(fullType)} is not one of ${Object.keys(content).join(', ')}`);
    return errors;
  }
  if (type === 'application/json' && !/^application\/json\s*;\s*charset=utf-8$/i.test(fullType)) {
    errors.push(`JSON responses say charset=utf-8, got ${JSON.stringify(fullType)}`);
  }
  if (x.method.toUpperCase() === 'HEAD') return errors;

  const schemaParts = [...rparts, 'content', type, 'schema'];
  if (isJson(type)) {
    let value;
    const text = body.toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (e) {
      errors.push(`the body is not JSON: ${e.message}`);
      return errors;
    }
    errors.push(...check(schemaParts, value));
    errors.push(...checkPriceText(text));
    if (type === 'application/problem+json' && value && value.status !== x.status) {
      errors.push(`problem status ${value && value.status} differs from the HTTP status ${x.status}`);
    }
  } else if (type === 'image/png') {
    if (!body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
      errors.push('the body is not a PNG image');
    }
  } else if (type === 'image/svg+xml') {
    if (!/<svg[\s>]/.test(body.toString('utf8'))) errors.push('the body is not an SVG image');
  }

  // The request: when the server took it (2xx), it must be valid by the document's schema; when
  // the server named bad fields (400 with errors), the schema must find it invalid too.
  if (x.request_b64 !== undefined && found.op.requestBody) {
    const [rb, rbparts] = deref(found.op.requestBody, [...found.parts, 'requestBody']);
    const reqType = (x.request_type || '').split(';')[0].trim().toLowerCase();
    if (rb.content && rb.content[reqType]) {
      let reqValue;
      try {
        reqValue = JSON.parse(Buffer.from(x.request_b64, 'base64').toString('utf8'));
      } catch (e) {
        reqValue = undefined;
      }
      if (reqValue !== undefined) {
        const reqErrors = check([...rbparts, 'content', reqType, 'schema'], reqValue);
        if (x.status >= 200 && x.status < 300 && reqErrors.length) {
          errors.push(`the server took a request the document calls invalid: ${reqErrors.join('; ')}`);
        }
        let respValue;
        try { respValue = JSON.parse(body.toString('utf8')); } catch (e) { respValue = {}; }
        if (x.status === 400 && respValue && respValue.errors && !x.semantic && !reqErrors.length) {
          errors.push('the server refused fields of a request the document calls valid: ' +
                      JSON.stringify(respValue.errors));
        }
      }
    }
  }
  return errors;
}

// Every media-type example of the document is valid by its own schema (with this validator's
// formats and x-decimal-places, which the linter does not know).
function validateExamples() {
  const errors = [];
  const walk = (node, parts) => {
    if (!node || typeof node !== 'object') return;
    if (parts.length >= 2 && parts[parts.length - 2] === 'content' && node.schema) {
      const examples = [];
      if ('example' in node) examples.push(['example', node.example]);
      for (const [n, ex] of Object.entries(node.examples || {})) examples.push([`examples/${n}`, ex.value]);
      for (const [n, ex] of examples) {
        for (const e of check([...parts, 'schema'], ex)) errors.push(`${pointer(parts)}/${n}: ${e}`);
      }
    }
    for (const [k, v] of Object.entries(node)) {
      if (k !== 'schema' && k !== 'example' && k !== 'examples') walk(v, [...parts, k]);
    }
  };
  walk(doc.paths, ['paths']);
  walk(doc.components, ['components']);
  return errors;
}

const exchanges = JSON.parse(readFileSync(0, 'utf8'));
const results = exchanges.map((x) => {
  let errors;
  try {
    errors = validateExchange(x);
  } catch (e) {
    errors = [`validator failed: ${e.message}`];
  }
  return { name: x.name, ok: errors.length === 0, errors };
});

const operations = [];
for (const [t, item] of Object.entries(doc.paths)) {
  for (const m of METHODS) if (item[m]) operations.push(`${m.toUpperCase()} ${t}`);
}
const missed = operations.filter((o) => !exercised.has(o));
results.push({ name: `all ${operations.length} documented operations were exercised`,
               ok: missed.length === 0, errors: missed.map((o) => `not exercised: ${o}`) });
const exampleErrors = validateExamples();
results.push({ name: 'every example of the document is valid by its schema',
               ok: exampleErrors.length === 0, errors: exampleErrors });
process.stdout.write(JSON.stringify(results) + '\n');
