// Validate FHIR R4 bundles: the official R4 JSON schema (fhir.schema.json via ajv) and every FHIRPath invariant
// (constraint.expression) of the R4 StructureDefinitions, evaluated with fhirpath.js and its R4 model.
// Declared profiles (meta.profile) are checked too, from their StructureDefinitions (see checkProfiles).
// Usage: node validate.js BUNDLE.json...
// Prints one JSON report: {file: {schema: [...], invariants: [...], profiles: [...], profiled: n, resources: n}}.
'use strict';
const fs = require('fs');
const path = require('path');
const fhirpath = require('fhirpath');
const model = require('fhirpath/fhir-context/r4');
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');

const defs = path.join(__dirname, 'node_modules', '@medplum', 'definitions');
const load = (name) => JSON.parse(fs.readFileSync(path.join(defs, 'dist', 'fhir', 'r4', name), 'utf8'));
const sds = {};
for (const file of ['profiles-resources.json', 'profiles-types.json']) {
  for (const e of load(file).entry) {
    const sd = e.resource;
    if (sd.resourceType === 'StructureDefinition' && sd.derivation !== 'constraint' && sd.snapshot) sds[sd.type] = sd;
  }
}
const schema = new JSONSchemaValidator();

// Constraints of one StructureDefinition as [path, key, severity, expression]. ele-1 (on every element) is checked
// once per resource over all descendants, and ext-1 (on every .extension element) once over all Extensions.
function constraints(sd) {
  const out = [];
  for (const el of sd.snapshot.element) {
    for (const c of el.constraint || []) {
      if (!c.expression || c.key === 'ele-1') continue;
      if (c.key === 'ext-1' && el.path !== 'Extension') continue;
      out.push([el.path.replace(/\[x\]/g, ''), c.key, c.severity, c.expression]);
    }
  }
  return out;
}
const complexTypes = Object.values(sds).filter((sd) => sd.kind === 'complex-type' && !sd.abstract
  && !['Element', 'BackboneElement'].includes(sd.type));
const typeRules = [];
for (const dt of complexTypes) {
  for (const [p, key, severity, expr] of constraints(dt)) {
    const rest = p.split('.').slice(1).map((s) => `\`${s}\``).join('.');
    typeRules.push([`descendants().ofType(${dt.type})${rest ? '.' + rest : ''}`, key, severity, expr]);
  }
}
const notEvaluable = new Map();  // query -> the parser's message: reported once, never silently passed
const compiled = new Map();
function run(node, expression, vars) {
  let fn = compiled.get(expression);
  if (!fn) {
    fn = fhirpath.compile(expression, model, { traceFn: () => {} });
    compiled.set(expression, fn);
  }
  return fn(node, vars);
}

function check(resource, where, out) {
  const vars = { resource, rootResource: resource };
  const sd = sds[resource.resourceType];
  if (!sd) {
    out.push({ where, key: 'type', severity: 'error', message: `unknown resourceType ${resource.resourceType}` });
    return;
  }
  const rules = [...constraints(sd), ...typeRules];
  // fhirpath.js gives hasValue() = false for xhtml (the narrative div, which has content by txt-2): skip it here.
  rules.push(['descendants().where(($this is xhtml).not())', 'ele-1', 'error',
    'hasValue() or (children().count() > id.count())']);
  const seen = new Set();
  for (const [p, key, severity, expr] of rules) {
    const base = p.startsWith('descendants()') ? p : p.split('.').map((s, i) => (i ? `\`${s}\`` : s)).join('.');
    const query = `${base}.where((${expr}).not())`;
    let failed;
    try {
      failed = run(resource, query, vars);
    } catch (err) {
      notEvaluable.set(query, String(err.message || err).slice(0, 200));
      continue;
    }
    if (failed.length && !seen.has(key + p)) {
      seen.add(key + p);
      out.push({ where, key, severity, path: p, count: failed.length, expression: expr });
    }
  }
}

// Profiles a resource claims in meta.profile (the R4 vital-signs family ships in profiles-others.json): each is
// checked from its differential, and its base profile's, for cardinality, fixed and pattern values, slices matched
// by their value discriminators, and the profile's own FHIRPath constraints (vs-1, vs-2, vs-3). A claimed profile
// that is not known is itself reported: a claim that cannot be checked is not passed.
const profiles = {};
for (const e of load('profiles-others.json').entry) {
  const sd = e.resource;
  if (sd.resourceType === 'StructureDefinition' && sd.derivation === 'constraint') profiles[sd.url] = sd;
}
function children(node, name) {
  if (node === null || typeof node !== 'object') return [];
  const vals = [];
  if (name.endsWith('[x]')) {
    const stem = name.slice(0, -3);
    for (const k of Object.keys(node)) if (k.startsWith(stem) && /^[A-Z]/.test(k.slice(stem.length))) vals.push(node[k]);
  } else if (name in node) vals.push(node[name]);
  return vals.flatMap((v) => (Array.isArray(v) ? v : [v]));
}
const at = (nodes, dotted) => dotted.split('.').reduce((cur, part) => cur.flatMap((n) => children(n, part)), nodes);
const segments = (id) => id.split('.').slice(1).map((s) => { const [name, slice] = s.split(':'); return { name, slice }; });
const keyOf = (ss) => ss.map((s) => s.name + (s.slice ? ':' + s.slice : '')).join('.');
function fixedOf(el) {
  const k = Object.keys(el).find((x) => x.startsWith('fixed') || x.startsWith('pattern'));
  return k ? [k, el[k]] : null;
}
function contains(v, want) {
  if (Array.isArray(want)) return Array.isArray(v) && want.every((w) => v.some((x) => contains(x, w)));
  if (want && typeof want === 'object') return !!v && typeof v === 'object' && Object.keys(want).every((k) => contains(v[k], want[k]));
  return v === want;
}
const meets = (value, [kind, want]) => (kind.startsWith('fixed') ? JSON.stringify(value) === JSON.stringify(want) : contains(value, want));

function checkProfile(resource, sd, where, out) {
  const els = sd.differential.element.map((el) => ({ el, ss: segments(el.id) }));
  const issue = (path, message) => out.push({ where, profile: sd.url, path, message });
  const cardinality = (el, perNode, path) => perNode.forEach((vals) => {
    if (el.min !== undefined && vals.length < el.min) issue(path, `${vals.length} present, at least ${el.min} required`);
    if (el.max !== undefined && el.max !== '*' && vals.length > Number(el.max)) issue(path, `${vals.length} present, at most ${el.max} allowed`);
  });
  function walk(prefix, nodes, label) {
    const below = els.filter(({ ss }) => ss.length === prefix.length + 1 && keyOf(ss.slice(0, -1)) === keyOf(prefix));
    for (const { el, ss } of below.filter(({ ss }) => !ss[ss.length - 1].slice)) {
      const name = ss[ss.length - 1].name;
      const perNode = nodes.map((n) => children(n, name));
      cardinality(el, perNode, `${label}.${name}`);
      const fixed = fixedOf(el);
      if (fixed) perNode.flat().forEach((v) => { if (!meets(v, fixed)) issue(`${label}.${name}`, `${JSON.stringify(v)} is not the ${fixed[0]} ${JSON.stringify(fixed[1])}`); });
      for (const { el: slice, ss: sliceSegs } of below.filter(({ ss: s2 }) => s2[s2.length - 1].name === name && s2[s2.length - 1].slice)) {
        const wants = ((el.slicing || {}).discriminator || []).map((d) => {
          const hit = els.find(({ el: e2, ss: s3 }) => s3.length > sliceSegs.length && keyOf(s3.slice(0, sliceSegs.length)) === keyOf(sliceSegs)
            && s3.slice(sliceSegs.length).map((x) => x.name).join('.') === d.path && fixedOf(e2));
          return hit ? [d.path, fixedOf(hit.el)] : null;
        }).filter(Boolean);
        const members = perNode.map((vals) => vals.filter((v) => wants.every(([p, f]) => at([v], p).some((x) => meets(x, f)))));
        const label2 = `${label}.${name}:${sliceSegs[sliceSegs.length - 1].slice}`;
        cardinality(slice, members, label2);
        walk(sliceSegs, members.flat(), label2);
      }
      walk(ss, perNode.flat(), `${label}.${name}`);
    }
  }
  walk([], [resource], resource.resourceType);
  for (const { el } of els) {
    for (const c of el.constraint || []) {
      const base = el.path.replace(/\[x\]/g, '').split('.').map((s, i) => (i ? `\`${s}\`` : s)).join('.');
      const failed = run(resource, `${base}.where((${c.expression}).not())`, { resource, rootResource: resource });
      if (failed.length) issue(el.path, `${c.key} (${c.severity}): ${c.human || c.expression}`);
    }
  }
}
function checkProfiles(resource, where, out) {
  let checked = 0;
  for (const url of (resource.meta || {}).profile || []) {
    let sd = profiles[url];
    if (!sd) out.push({ where, profile: url, path: 'meta.profile', message: 'profile not known to the validator' });
    while (sd) {
      checkProfile(resource, sd, where, out);
      checked += 1;
      sd = profiles[sd.baseDefinition];
    }
  }
  return checked;
}

const report = {};
for (const file of process.argv.slice(2)) {
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
  const schemaErrors = schema.validate(bundle, true).map((e) => `${e.dataPath || e.instancePath || ''} ${e.message}`);
  const invariants = [];
  const profileIssues = [];
  let profiled = 0;
  check(bundle, 'Bundle', invariants);
  (bundle.entry || []).forEach((e, i) => {
    if (!e.resource) return;
    const where = `entry[${i}] ${e.resource.resourceType}/${e.resource.id}`;
    check(e.resource, where, invariants);
    profiled += checkProfiles(e.resource, where, profileIssues) ? 1 : 0;
  });
  report[file] = { schema: schemaErrors, invariants, profiles: profileIssues, profiled,
    resources: (bundle.entry || []).length };
}
report['(not evaluable)'] = Object.fromEntries(notEvaluable);
process.stdout.write(JSON.stringify(report, null, 1) + '\n');
