/**
 * nbdocker in JupyterLab: the images panel, shells in containers as terminal tabs, Dockerfile
 * highlighting (files, `%%dockerfile` and `%%container` cells in notebooks and consoles), a
 * Build button on Dockerfiles, a status bar item for running work, and palette commands for
 * all of it. The server side is the `nbdocker.server` Jupyter server extension.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { IConsoleTracker } from '@jupyterlab/console';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';

import { EventSocket } from './api';
import { CONTAINER_CELL_MIME, DOCKERFILE_CELL_MIME, DOCKERFILE_MIME, underMagicLine } from './cellmagic';
import { addCommands, PANEL_ID } from './commands';
import { DOCKERFILE_NAME, dockerfile, isDockerfilePath } from './dockerfile';
import { BuildButtonExtension } from './editor';
import { trackConsoles, trackNotebooks } from './highlight';
import { kernelWorkOf } from './model';
import { ImagesPanel } from './panel';
import { serveSession } from './kernelshell';
import { ActivityStatus } from './status';
import { StoreModel } from './store';

const whaleIcon = new LabIcon({
  name: 'nbdocker:images',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="10" width="3" height="3"/><rect x="7" y="10" width="3" height="3"/>' +
    '<rect x="11" y="10" width="3" height="3"/><rect x="7" y="6" width="3" height="3"/>' +
    '<rect x="11" y="6" width="3" height="3"/><rect x="15" y="10" width="3" height="3"/>' +
    '<path d="M2 14h18c1 0 2-1 2.3-2.2.4.1 1 0 1.4-.3-.4-.7-1.2-1-2-.8-.2-.8-.7-1.3-1.3-1.6-.5.8-.6 1.7-.3 2.4H2c0 4 3 7 8 7 5.5 0 9-2.5 10.5-7z"/>' +
    '</g></svg>'
});

/** Languages: the Dockerfile mode (with heredocs) for files and the two cell magics. */
function registerLanguages(languages: IEditorLanguageRegistry): void {
  const load = async (parser: any) => {
    const { StreamLanguage, LanguageSupport } = await import('@codemirror/language');
    return new LanguageSupport(StreamLanguage.define(parser));
  };
  // JupyterLab ships CodeMirror's legacy Dockerfile mode (no heredocs) under this mime type:
  // ours takes its place, and also names `Dockerfile.*`, `*.dockerfile` and Containerfiles.
  const builtIn = languages.findByMIME(DOCKERFILE_MIME) as any;
  if (builtIn) {
    builtIn.load = () => load(dockerfile);
    builtIn.support = undefined;
    builtIn.filename = DOCKERFILE_NAME;
    builtIn.extensions = ['dockerfile', 'containerfile'];
  } else {
    languages.addLanguage({
      name: 'Dockerfile',
      mime: DOCKERFILE_MIME,
      filename: DOCKERFILE_NAME,
      extensions: ['dockerfile', 'containerfile'],
      load: () => load(dockerfile)
    });
  }
  languages.addLanguage({
    name: 'nbdocker-dockerfile-cell',
    displayName: '%%dockerfile cell',
    mime: DOCKERFILE_CELL_MIME,
    load: () => load(underMagicLine(dockerfile))
  });
  languages.addLanguage({
    name: 'nbdocker-container-cell',
    displayName: '%%container cell',
    mime: CONTAINER_CELL_MIME,
    load: async () => {
      const { shell } = await import('@codemirror/legacy-modes/mode/shell');
      return load(underMagicLine(shell));
    }
  });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbdocker:plugin',
  description: 'Images panel, shells in containers, Dockerfile highlighting and builds.',
  autoStart: true,
  requires: [IEditorLanguageRegistry],
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    INotebookTracker,
    IConsoleTracker,
    IEditorTracker,
    IStatusBar
  ],
  activate: (
    app: JupyterFrontEnd,
    languages: IEditorLanguageRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null,
    editors: IEditorTracker | null,
    statusBar: IStatusBar | null
  ) => {
    registerLanguages(languages);
    app.docRegistry.addFileType({
      name: 'dockerfile',
      displayName: 'Dockerfile',
      extensions: ['.dockerfile', '.containerfile'],
      pattern: DOCKERFILE_NAME.source,
      mimeTypes: [DOCKERFILE_MIME],
      fileFormat: 'text',
      contentType: 'file',
      icon: whaleIcon
    });

    const model = new StoreModel(new EventSocket());
    const hideDangling = { value: true };
    const currentDockerfile = () => {
      const widget = editors?.currentWidget;
      if (widget && app.shell.currentWidget === widget && isDockerfilePath(widget.context.path)) {
        return widget.context.path;
      }
      return null;
    };
    addCommands({ app, model, currentDockerfile, hideDangling }, palette);

    const panel = new ImagesPanel({ app, model, hideDangling });
    panel.id = PANEL_ID;
    panel.title.icon = whaleIcon;
    panel.title.caption = 'nbdocker: images and containers';
    app.shell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, PANEL_ID);

    app.docRegistry.addWidgetExtension('Editor', new BuildButtonExtension(app));

    if (notebooks) {
      trackNotebooks(notebooks);
      notebooks.widgetAdded.connect((_, panel) => serveSession(app, panel.sessionContext));
      // Work in kernels: a cell running %%dockerfile, %pull… shows in the status bar while
      // it runs; the panel reloads by itself when the store changes.
      NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
        const kind = kernelWorkOf(cell.model.sharedModel.getSource());
        if (kind) {
          const where = (notebook.parent as any)?.title?.label ?? 'a notebook';
          model.activity.startKernelWork({ id: cell.model.id, kind, where, started: Date.now() });
          model.touch();
        }
      });
      NotebookActions.executed.connect((_, { cell }) => {
        if (model.activity.endKernelWork(cell.model.id)) {
          model.touch();
        }
      });
    }
    if (consoles) {
      trackConsoles(consoles);
      consoles.widgetAdded.connect((_, panel) => serveSession(app, panel.sessionContext));
    }

    if (statusBar) {
      const status = new ActivityStatus(model, () => {
        app.shell.activateById(PANEL_ID);
      });
      statusBar.registerStatusItem('nbdocker:activity', {
        item: status,
        align: 'left',
        rank: 5,
        isActive: () => model.activity.summary() !== '',
        activeStateChanged: model.changed
      });
    }
  }
};

export default plugin;
