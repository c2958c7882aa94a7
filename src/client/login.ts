import type { Socket } from 'node:net';
import { LoginError } from '../errors.js';
import { encodeFrame, type FrameDecoder } from '../protocol/frames.js';
import { isFrameOf, type ErrorFrame, type WelcomeFrame } from '../protocol/messages.js';

export interface LoginOptions {
  user: string;
  /** A token from issueToken (or the allocation service); a function is called at every (re-)login. */
  token?: string | (() => string | Promise<string>);
}

/** Login codes after which trying another server cannot help. */
export function isFinalLoginError(e: unknown): boolean {
  return e instanceof LoginError && e.code.startsWith('FULCRUM_TOKEN_');
}

/**
 * Sends `login` on an open socket and waits for `welcome`; rejects with LoginError on an `error`
 * frame. Frames that arrived after the welcome (a message may follow it in the same chunk) are returned.
 */
export async function loginOn(socket: Socket, decoder: FrameDecoder, login: LoginOptions, timeoutMs: number): Promise<{ welcome: WelcomeFrame; rest: unknown[] }> {
  const token = typeof login.token === 'function' ? await login.token() : login.token;
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, v?: { welcome: WelcomeFrame; rest: unknown[] }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(v!);
    };
    const timer = setTimeout(() => done(new LoginError('FULCRUM_LOGIN_TIMEOUT', `no welcome within ${timeoutMs} ms`)), timeoutMs);
    const onClose = () => done(new LoginError('FULCRUM_LOGIN_CLOSED', 'the server closed the connection during login'));
    const onData = (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        done(e as Error);
        return;
      }
      for (let i = 0; i < frames.length; i++) {
        const m = frames[i];
        if (isFrameOf<ErrorFrame>(m, 'error')) return done(new LoginError(String(m.code), `login as ${login.user} refused: ${String(m.message)}`));
        if (isFrameOf<WelcomeFrame>(m, 'welcome')) return done(undefined, { welcome: m, rest: frames.slice(i + 1) });
      }
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(encodeFrame(token === undefined ? { type: 'login', user: login.user } : { type: 'login', user: login.user, token }));
  });
}
