import { MAX_NAME_BYTES } from '../../protocol/messages.js';
import { MAX_UTF8_BYTES } from './validation.js';

/**
 * Schema pieces the route files share. A `description` is phrased as the rule a value must meet
 * ("an integer between 1 and 65535"): the OpenAPI document shows it and a 400 quotes it.
 */

export type Schema = Record<string, unknown>;

/** A user or room name: what the wire protocol accepts. */
export const NAME: Schema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_NAME_BYTES,
  [MAX_UTF8_BYTES]: MAX_NAME_BYTES,
  description: `a non-empty string of at most ${MAX_NAME_BYTES} UTF-8 bytes`,
};

export const PORT: Schema = { type: 'integer', minimum: 1, maximum: 65535, description: 'an integer between 1 and 65535' };

export const IP: Schema = {
  type: 'string',
  format: 'ip',
  maxLength: 64,
  description: 'an IPv4 or IPv6 address clients can connect to (no host name, zone id or wildcard)',
};

/** Any JSON value (a message body). */
export const ANY_JSON: Schema = { description: 'any JSON value' };

/** A JSON object whose members are not listed (serialised as they are). */
export const FREE_OBJECT: Schema = { type: 'object', additionalProperties: true };

/** The one error body every failure uses. */
export function errorResponse(description: string, codes: readonly string[]): Schema {
  return {
    description,
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: [...new Set(codes)] },
          message: { type: 'string' },
          field: { type: 'string', description: 'the offending body field, query parameter or path parameter, when there is one' },
        },
      },
    },
  };
}

/** An error response's codes (the `enum` above). */
export function codesOf(response: Schema | undefined): string[] {
  const error = (response?.properties as { error?: { properties?: { code?: { enum?: string[] } } } } | undefined)?.error;
  return error?.properties?.code?.enum ?? [];
}

/** A plain-text or HTML answer (sent as it is, not serialised). */
export function textResponse(description: string, contentType: string): Schema {
  return { description, content: { [contentType]: { schema: { type: 'string' } } } };
}
