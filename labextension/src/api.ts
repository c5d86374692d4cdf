/**
 * The server extension's REST endpoints and event socket, through JupyterLab's own
 * ServerConnection: the token, the XSRF header and the base URL are JupyterLab's, so the
 * requests pass Jupyter's authentication wherever the lab runs (JupyterHub included).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import type { ITask } from './model';

export interface IImage {
  repository: string;
  tag: string;
  reference: string;
  id: string;
  short_id: string;
  digest: string;
  created: string | null;
  created_text: string;
  size: number;
  size_text: string;
  containers: string[];
  in_use: boolean;
  dangling: boolean;
}

export interface IContainer {
  id: string;
  short_id: string;
  name: string;
  image: string;
  image_name: string;
  command: string;
  created: string;
  created_text: string;
  state: 'created' | 'running' | 'exited';
  status_text: string;
  exit_code: number | null;
  tty: boolean;
  terminal: string | null;
}

export interface IHistoryEntry {
  image: string;
  created: string | null;
  created_text: string;
  created_by: string;
  size: number;
  size_text: string;
  comment: string;
  empty_layer: boolean;
}

export interface ILayer {
  index: number;
  diff_id: string;
  size: number;
  size_text: string;
  created_by: string;
  comment: string;
  added: string[];
  changed: string[];
  removed: string[];
  counts: { added: number; changed: number; removed: number };
}

export interface ILayers {
  id: string;
  short_id: string;
  tags: string[];
  size: number;
  size_text: string;
  history: IHistoryEntry[];
  layers: ILayer[];
}

/** An error the server explained: its one-line message is for the user. */
export class NbdockerError extends Error {}

const API = 'nbdocker/api';

export async function request<T>(
  path: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  const url = URLExt.join(settings.baseUrl, API, path) + (search ? `?${search}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    throw new NbdockerError(data.message || `${response.status} ${response.statusText}`);
  }
  return data as T;
}

export function post<T>(path: string, body: unknown): Promise<T> {
  return request<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

export const api = {
  images: (all = false) => request<{ images: IImage[] }>('images', {}, all ? { all: '1' } : {}),
  layers: (image: string) => request<ILayers>('images/layers', {}, { image }),
  tag: (source: string, target: string) =>
    post<{ reference: string }>('images/tag', { source, target }),
  removeImage: (image: string, force = false) =>
    post<{ removed: { action: string; what: string }[] }>('images/remove', { image, force }),
  push: (reference: string) => post<{ task: ITask }>('images/push', { reference }),
  containers: () => request<{ containers: IContainer[] }>('containers'),
  commit: (container: string, reference: string, message: string, author: string) =>
    post<{ id: string; short_id: string }>('containers/commit', {
      container,
      reference,
      message,
      author
    }),
  diff: (container: string) =>
    request<{ changes: { kind: string; path: string }[] }>('containers/diff', {}, { container }),
  removeContainer: (container: string, force = false) =>
    post<{ removed: string }>('containers/remove', { container, force }),
  newShell: (image: string, command?: string[]) =>
    post<{ terminal: string; container: IContainer }>('shells', { image, command }),
  attachShell: (container: string, rm = false) =>
    post<{ terminal: string; container: IContainer }>('shells', { container, rm }),
  runInTerminal: (args: string[]) => post<{ terminal: string }>('shells', { run: args }),
  build: (path: string, tags: string[]) => post<{ task: ITask }>('builds', { path, tags }),
  tasks: () => request<{ tasks: ITask[] }>('tasks')
};

/**
 * The event socket, reconnecting (with a growing delay) when the server goes away; every
 * message arrives on `message`, and `reconnected` fires after a reconnection so listeners can
 * reload what they may have missed.
 */
export class EventSocket {
  constructor() {
    this._connect();
  }

  get message(): ISignal<this, any> {
    return this._message;
  }

  get reconnected(): ISignal<this, void> {
    return this._reconnected;
  }

  dispose(): void {
    this._disposed = true;
    this._socket?.close();
  }

  private _connect(): void {
    if (this._disposed) {
      return;
    }
    const settings = ServerConnection.makeSettings();
    let url = URLExt.join(settings.wsUrl, API, 'events');
    if (settings.appendToken && settings.token) {
      url += `?token=${encodeURIComponent(settings.token)}`;
    }
    const socket = new settings.WebSocket(url);
    this._socket = socket;
    socket.onopen = () => {
      if (this._failures > 0 || this._opened) {
        this._reconnected.emit();
      }
      this._opened = true;
      this._failures = 0;
    };
    socket.onmessage = event => {
      try {
        this._message.emit(JSON.parse(event.data));
      } catch (error) {
        console.warn('nbdocker: a message that is not JSON', error);
      }
    };
    socket.onclose = () => {
      if (this._disposed) {
        return;
      }
      this._failures += 1;
      const delay = Math.min(30000, 500 * 2 ** Math.min(this._failures, 6));
      window.setTimeout(() => this._connect(), delay);
    };
  }

  private _socket: WebSocket | null = null;
  private _disposed = false;
  private _opened = false;
  private _failures = 0;
  private _message = new Signal<this, any>(this);
  private _reconnected = new Signal<this, void>(this);
}
