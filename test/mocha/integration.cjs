'use strict';
// `npm run test:integration`: everything `test:unit` does not run.
const base = require('../../.mocharc.json');
const { ALL, UNIT } = require('./suites.cjs');

module.exports = { ...base, spec: ALL, ignore: UNIT };
