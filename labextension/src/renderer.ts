/**
 * The output of `%docker run -it IMAGE` in a notebook: the kernel created a container with a
 * TTY and says so with this mime type; here it becomes a JupyterLab terminal attached to it.
 *
 * The container is started only while it was never started (state `created`), so re-opening the
 * notebook later does not start shells again; the button opens its terminal again on demand.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { api } from './api';
import { openTerminal } from './commands';
import { StoreModel } from './store';

export const SHELL_MIME = 'application/vnd.nbdocker.shell+json';

interface IShellRequest {
  container: string;
  name: string;
  image: string;
  rm?: boolean;
}

export class ShellRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(app: JupyterFrontEnd, model: StoreModel) {
    super();
    this.app = app;
    this.model = model;
    this.addClass('nbdocker-ShellOutput');
    // The container's state as the store changes (started, exited, removed).
    model.changed.connect(this._update, this);
  }

  readonly app: JupyterFrontEnd;
  readonly model: StoreModel;

  dispose(): void {
    this.model.changed.disconnect(this._update, this);
    super.dispose();
  }

  private _update(): void {
    if (!this._request || !this._text || this._opening) {
      return;
    }
    const container = this.model.containers.find(c => c.id === this._request!.container);
    if (container) {
      this.describe(this._request, this._text, container.state === 'running' ? 'running' : container.status_text);
    } else if (this.model.loaded) {
      this._text.textContent = `Container ${this._request.name} is gone.`;
    }
  }

  private _request: IShellRequest | null = null;
  private _text: HTMLElement | null = null;
  private _opening = false;

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const request = model.data[SHELL_MIME] as unknown as IShellRequest;
    this.node.textContent = '';
    const text = document.createElement('span');
    const button = document.createElement('button');
    button.className = 'nbdocker-Action jp-mod-styled';
    button.textContent = 'Open terminal';
    button.onclick = () => void this.open(request, text);
    this.node.append(text, ' ', button);
    this._request = request;
    this._text = text;
    const { containers } = await api.containers();
    const container = containers.find(c => c.id === request.container);
    if (!container) {
      text.textContent = `Container ${request.name} is gone.`;
      button.hidden = true;
      return;
    }
    if (container.state === 'created' && !container.terminal) {
      await this.open(request, text);
    } else {
      this.describe(request, text, container.state === 'running' ? 'running' : container.status_text);
    }
  }

  private describe(request: IShellRequest, text: HTMLElement, state: string): void {
    text.textContent =
      `Container ${request.name} (${request.image}) — ${state}. ` +
      (request.rm ? 'It goes when its shell exits.' : `After exit: %commit ${request.name} REPOSITORY[:TAG].`);
  }

  private async open(request: IShellRequest, text: HTMLElement): Promise<void> {
    this._opening = true;
    try {
      const shell = await api.attachShell(request.container, Boolean(request.rm));
      await openTerminal(this.app, shell.terminal);
      this.describe(request, text, 'running in a terminal tab');
    } catch (error) {
      text.textContent = (error as Error).message;
    } finally {
      this._opening = false;
    }
  }
}

export function shellRendererFactory(app: JupyterFrontEnd, model: StoreModel): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [SHELL_MIME],
    defaultRank: 10,
    createRenderer: () => new ShellRenderer(app, model)
  };
}
