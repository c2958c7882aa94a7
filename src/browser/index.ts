// `fulcrum/browser`: the client for web pages (an ES module bundled with msgpackr's browser build; no Node built-ins).
export {
  BrowserClient,
  RefusedError,
  BROWSER_CONNECT_TIMEOUT_MS,
  BROWSER_REQUEST_TIMEOUT_MS,
  BROWSER_BACKOFF_BASE_MS,
  BROWSER_BACKOFF_MAX_MS,
  BROWSER_REFRESH_BEFORE_MS,
  type BrowserClientOptions,
  type BrowserClientState,
  type BrowserClientEvents,
  type BrowserMessage,
  type Allocation,
  type StreamPosition,
} from './browser-client.js';
