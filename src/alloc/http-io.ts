import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadRequestError, HttpError, InternalError, PayloadTooLargeError, UnsupportedMediaTypeError } from './http-errors.js';

/** Largest request body the service reads; heartbeats are ~100 bytes. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads a JSON body of at most `limitBytes`. Rejects with 415 for another content type,
 * 413 past the limit (checked against Content-Length first, then while streaming, so a
 * lying or missing length cannot make us buffer more), 400 for text that is not JSON.
 */
export function readJsonBody(req: IncomingMessage, limitBytes = DEFAULT_MAX_BODY_BYTES): Promise<unknown> {
  const type = req.headers['content-type'];
  if (!type || !JSON_TYPE.test(type)) return Promise.reject(new UnsupportedMediaTypeError(type));
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(new PayloadTooLargeError(limitBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        // Stop reading; the caller answers with Connection: close, which drops the rest.
        req.pause();
        reject(new PayloadTooLargeError(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text) as unknown);
      } catch {
        reject(new BadRequestError('body is not valid JSON'));
      }
    };
    const onError = () => {
      cleanup();
      reject(new BadRequestError('request body was not received completely'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

function baseHeaders(contentType: string, length: number): Record<string, string | number> {
  return {
    'Content-Type': contentType,
    'Content-Length': length,
    // Every answer describes the cluster right now; no cache may keep it.
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { ...baseHeaders('application/json; charset=utf-8', text.length), ...headers });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...baseHeaders(contentType, buf.length), ...headers });
  res.end(buf);
}

/** The JSON error body every failure path uses. */
export function errorBody(err: HttpError): { error: { code: string; message: string; field?: string } } {
  const field = err instanceof BadRequestError ? err.field : undefined;
  return { error: { code: err.code, message: err.message, ...(field ? { field } : {}) } };
}

/** Turns anything thrown into an HttpError; unknown errors become a 500 that hides internals. */
export function toHttpError(e: unknown): HttpError {
  return e instanceof HttpError ? e : new InternalError({ cause: e });
}

/** Answers with the error unless the response already started (then the socket is dropped). */
export function sendError(res: ServerResponse, err: HttpError, closeConnection = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...err.headers };
  if (closeConnection) headers.Connection = 'close';
  sendJson(res, err.status, errorBody(err), headers);
}
