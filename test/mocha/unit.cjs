'use strict';
// `npm run test:unit`: the fast unit tests only (see suites.cjs).
const base = require('../../.mocharc.json');
const { UNIT } = require('./suites.cjs');

module.exports = { ...base, spec: UNIT };
