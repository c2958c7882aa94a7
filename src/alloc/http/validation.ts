import { Ajv, type ErrorObject, type Options } from 'ajv';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';

type SchemaErrorDataVar = 'body' | 'headers' | 'params' | 'querystring';
import { canonicalIpOrUndefined, parseAddressOrUndefined } from '../heartbeat-request.js';
import { BadRequestError } from '../http-errors.js';

/**
 * Keyword for names measured as they travel: JSON Schema's `maxLength` counts characters, the
 * wire limit is UTF-8 bytes (65 × "é" is 65 characters but 130 bytes).
 */
export const MAX_UTF8_BYTES = 'x-maxUtf8Bytes';

/** Shared by both instances: the formats and keywords the route schemas use. */
function withVocabulary(ajv: Ajv): Ajv {
  ajv.addKeyword({
    keyword: MAX_UTF8_BYTES,
    type: 'string',
    schemaType: 'number',
    errors: false,
    validate: (max: number, data: string) => Buffer.byteLength(data, 'utf8') <= max,
  });
  // A literal address clients can connect to (no host name, zone id or wildcard).
  ajv.addFormat('ip', { type: 'string', validate: (s: string) => canonicalIpOrUndefined(s) !== undefined });
  // `ip:port` or `[ipv6]:port`, the name of a server node.
  ajv.addFormat('endpoint', { type: 'string', validate: (s: string) => parseAddressOrUndefined(s) !== undefined });
  return ajv;
}

const COMMON: Options = {
  // Every error carries the failing schema and value, so the answer can say what was wrong.
  verbose: true,
  // A typo such as "balnce" must fail loudly, never be dropped silently.
  removeAdditional: false,
  useDefaults: false,
  allErrors: false,
  allowUnionTypes: true,
  strict: true,
  // `oneOf: [{required: ['user']}, {required: ['users']}]` names properties declared beside it.
  strictRequired: false,
};

/**
 * Bodies are taken as sent ("80" is not a port); query strings and path parameters are text,
 * so those are converted to the schema's type (`limit=10` → 10).
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const body = withVocabulary(new Ajv({ ...COMMON, coerceTypes: false }));
  const text = withVocabulary(new Ajv({ ...COMMON, coerceTypes: true }));
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema as object);
}

/** `/users/1` → `users[1]`, `/a/b` → `a.b`; the root (the whole body) has no field. */
function fieldOf(instancePath: string): string | undefined {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (parts.length === 0) return undefined;
  return parts.slice(1).reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : `${acc}.${p}`), parts[0]!);
}

function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Turns the first schema violation into the service's 400: `field` names the offending
 * property (or query / path parameter) and the message says what it must be. A property's
 * `description` is written as the rule it must meet, so documentation and error agree.
 */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: SchemaErrorDataVar): Error {
  const e = errors[errors.length - 1] as unknown as ErrorObject;
  const where = dataVar === 'querystring' ? 'query' : dataVar === 'params' ? 'path' : dataVar;
  const field = fieldOf(e.instancePath);
  const parent = e.parentSchema as { description?: string; oneOf?: { required?: string[] }[] } | undefined;
  switch (e.keyword) {
    case 'required': {
      const name = (e.params as { missingProperty: string }).missingProperty;
      const full = field ? `${field}.${name}` : name;
      return BadRequestError.field(full, 'is required');
    }
    case 'additionalProperties': {
      const name = (e.params as { additionalProperty: string }).additionalProperty;
      return BadRequestError.field(field ? `${field}.${name}` : name, 'is not a known field');
    }
    case 'oneOf': {
      const names = (parent?.oneOf ?? []).flatMap((b) => b.required ?? []);
      return new BadRequestError(`give exactly one of ${names.join(' and ')}`);
    }
  }
  if (field === undefined) return new BadRequestError(`${where} must be a JSON object`);
  if (Array.isArray(e.data) && dataVar !== 'body') return BadRequestError.field(field, 'must be given at most once');
  const rule = parent?.description ?? e.message ?? 'is not valid';
  return BadRequestError.field(field, `${parent?.description ? `must be ${rule}` : rule}, got ${shown(e.data)}`);
}
