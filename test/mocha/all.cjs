'use strict';
// `npm test`: every test file (the shared options are in .mocharc.json).
const base = require('../../.mocharc.json');
const { ALL } = require('./suites.cjs');

module.exports = { ...base, spec: ALL };
