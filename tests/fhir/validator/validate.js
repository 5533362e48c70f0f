// Validate FHIR R4 bundles: the official R4 JSON schema (fhir.schema.json via ajv) and every FHIRPath invariant
// (constraint.expression) of the R4 StructureDefinitions, evaluated with fhirpath.js and its R4 model.
// Usage: node validate.js BUNDLE.json...   Prints one JSON report: {file: {schema: [...], invariants: [...]}}.
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

const report = {};
for (const file of process.argv.slice(2)) {
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
  const schemaErrors = schema.validate(bundle, true).map((e) => `${e.dataPath || e.instancePath || ''} ${e.message}`);
  const invariants = [];
  check(bundle, 'Bundle', invariants);
  (bundle.entry || []).forEach((e, i) => {
    if (e.resource) check(e.resource, `entry[${i}] ${e.resource.resourceType}/${e.resource.id}`, invariants);
  });
  report[file] = { schema: schemaErrors, invariants, resources: (bundle.entry || []).length };
}
report['(not evaluable)'] = Object.fromEntries(notEvaluable);
process.stdout.write(JSON.stringify(report, null, 1) + '\n');
