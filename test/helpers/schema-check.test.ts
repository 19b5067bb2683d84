import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkSchema } from './schema-check.js';

const root = {
  components: {
    schemas: {
      Item: {
        type: 'object',
        properties: {
          n: { type: 'integer', minimum: 0 },
          s: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        },
        required: ['n'],
      },
    },
  },
};
const ref = { $ref: '#/components/schemas/Item' };

describe('schema checker', () => {
  test('conforming values', () => {
    assert.deepEqual(checkSchema({ n: 1, s: null }, ref, { root }), []);
    assert.deepEqual(checkSchema([{ n: 0 }], { type: 'array', items: ref }, { root }), []);
    assert.deepEqual(
      checkSchema({ a: 1 }, { type: 'object', additionalProperties: { type: 'integer' } }, { root }),
      [],
    );
    assert.deepEqual(checkSchema('x', { type: 'string', enum: ['x', 'y'] }, { root }), []);
    assert.deepEqual(checkSchema(60, { type: 'number', const: 60 }, { root }), []);
  });

  test('problems carry their path', () => {
    assert.deepEqual(checkSchema({ n: -1, s: 3 }, ref, { root }), [
      '$.n: -1 < 0',
      '$.s: matches none of anyOf ($.s: expected string, got integer 3; $.s: expected null, got integer 3)',
    ]);
    assert.deepEqual(checkSchema([{}], { type: 'array', items: ref }, { root }), [
      '$[0]: missing required "n"',
    ]);
    assert.deepEqual(checkSchema(1.5, { type: 'integer' }, { root }), [
      '$: expected integer, got number 1.5',
    ]);
    assert.deepEqual(checkSchema('z', { enum: ['x'] }, { root }), ['$: "z" is not one of ["x"]']);
    assert.deepEqual(checkSchema(0, { type: 'integer', exclusiveMinimum: 0 }, { root }), ['$: 0 <= 0']);
  });

  test('closed objects reject fields the schema does not name', () => {
    assert.deepEqual(checkSchema({ n: 1, extra: true }, ref, { root }), []);
    assert.deepEqual(checkSchema({ n: 1, extra: true }, ref, { root, closedObjects: true }), [
      '$.extra: not in the schema',
    ]);
  });

  test('NaN and Infinity are not JSON numbers', () => {
    assert.equal(checkSchema(Number.NaN, { type: 'number' }, { root }).length, 1);
  });

  test('a keyword outside the subset is reported, an unresolved ref throws', () => {
    assert.deepEqual(checkSchema('a', { type: 'string', pattern: '^a$' }, { root }), [
      '$: schema keyword "pattern" is not supported',
    ]);
    assert.throws(() => checkSchema(1, { $ref: '#/components/schemas/Nope' }, { root }), /unresolved/);
  });
});
